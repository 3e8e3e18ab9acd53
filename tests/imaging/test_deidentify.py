"""De-identification (DICOM PS3.15 Annex E basic profile) of an uploaded DICOM file."""

from __future__ import annotations

import io
import re

import pydicom
import pytest
from dicom_patterns import dataset, pattern, to_bytes
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import RLELossless

from kyphos.imaging import ingest
from kyphos.imaging.deidentify import DEIDENTIFICATION_METHOD

KEY = b"registry one"
OTHER_KEY = b"registry two"
SECRETS = [
    "Zhang^Wei",
    "Zhang",
    "H123456",
    "19470312",
    "Secret Hospital",
    "Dr^Referrer",
    "ACC-98765",
    "private value",
    "Dr^Operator",
    "20240102",
    "Chest and spine study",
]
ORIGINAL_UIDS = {
    "StudyInstanceUID": "1.2.826.0.1.3680043.9.7777.2.1",
    "SeriesInstanceUID": "1.2.826.0.1.3680043.9.7777.3.1",
    "SOPInstanceUID": "1.2.826.0.1.3680043.9.7777.1.1",
    "FrameOfReferenceUID": "1.2.826.0.1.3680043.9.7777.4.1",
}


def identified(charset: str | None = None, name: str = "Zhang^Wei") -> Dataset:
    ds = dataset(pattern(12), bits_stored=12)
    if charset:
        ds.SpecificCharacterSet = charset
    ds.PatientName = name
    ds.PatientID = "H123456"
    ds.PatientBirthDate = "19470312"
    ds.InstitutionName = "Secret Hospital"
    ds.ReferringPhysicianName = "Dr^Referrer"
    ds.AccessionNumber = "ACC-98765"
    ds.OperatorsName = "Dr^Operator"
    ds.StudyDate = "20240102"
    ds.StudyDescription = "Chest and spine study"
    ds.FrameOfReferenceUID = ORIGINAL_UIDS["FrameOfReferenceUID"]
    ds.PixelSpacing = [0.148, 0.15]
    ds.WindowCenter = 2048
    ds.WindowWidth = 4096
    ds.BurnedInAnnotation = "NO"
    block = ds.private_block(0x0011, "ACME hospital", create=True)
    block.add_new(0x01, "LO", "private value")
    item = Dataset()
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    item.ReferencedSOPInstanceUID = ORIGINAL_UIDS["SOPInstanceUID"]
    item.PerformingPhysicianName = "Zhang^Wei"
    ds.ReferencedImageSequence = Sequence([item])
    return ds


def _all_encodings(text: str) -> list[bytes]:
    forms = {text.encode("utf-8"), text.encode("utf-16-le"), text.encode("gb18030")}
    if text.isascii():
        forms.add(text.encode("ascii"))
    return sorted(forms)


@pytest.mark.parametrize("compressed", [False, True], ids=["uncompressed", "rle"])
def test_identifying_strings_appear_nowhere_in_the_stored_bytes(compressed: bool) -> None:
    ds = identified()
    if compressed:
        ds.compress(RLELossless)
    upload = to_bytes(ds)
    assert b"Zhang^Wei" in upload and b"Secret Hospital" in upload  # the test is meaningful
    stored = ingest(upload, uid_key=KEY).data
    for secret in SECRETS:
        for encoded in _all_encodings(secret):
            assert encoded not in stored, secret
    for uid in ORIGINAL_UIDS.values():
        assert uid.encode() not in stored


@pytest.mark.parametrize(
    ("charset", "name", "encoding"),
    [("ISO_IR 192", "张伟^Zhang", "utf-8"), ("GB18030", "张伟^Zhang", "gb18030")],
)
def test_chinese_names_are_removed_in_their_own_character_set(
    charset: str, name: str, encoding: str
) -> None:
    upload = to_bytes(identified(charset, name))
    assert "张伟".encode(encoding) in upload
    stored = ingest(upload, uid_key=KEY).data
    assert "张伟".encode(encoding) not in stored
    assert b"Zhang" not in stored


def test_identifying_attributes_are_emptied_or_removed_and_geometry_kept() -> None:
    stored = pydicom.dcmread(io.BytesIO(ingest(to_bytes(identified()), uid_key=KEY).data))
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "AccessionNumber"):
        assert stored.get(keyword) in (None, ""), keyword  # type 2: present but empty
    for keyword in ("InstitutionName", "OperatorsName", "StudyDescription"):
        assert keyword not in stored
    assert not any(element.tag.is_private for element in stored)
    assert stored.ReferencedImageSequence[0].get("PerformingPhysicianName") in (None, "")
    assert [float(v) for v in stored.PixelSpacing] == [0.148, 0.15]
    assert (float(stored.WindowCenter), float(stored.WindowWidth)) == (2048.0, 4096.0)
    assert stored.PhotometricInterpretation == "MONOCHROME2"
    assert (stored.Rows, stored.Columns, stored.BitsStored) == (48, 64, 12)
    assert stored.BurnedInAnnotation == "NO"
    assert stored.PatientIdentityRemoved == "YES"
    assert stored.DeidentificationMethod == DEIDENTIFICATION_METHOD
    assert len(DEIDENTIFICATION_METHOD) <= 64  # VR LO
    assert stored.DeidentificationMethodCodeSequence[0].CodeValue == "113100"


def _uids(data: bytes) -> dict[str, str]:
    stored = pydicom.dcmread(io.BytesIO(data))
    uids = {keyword: str(stored[keyword].value) for keyword in ORIGINAL_UIDS}
    uids["MediaStorageSOPInstanceUID"] = str(stored.file_meta.MediaStorageSOPInstanceUID)
    uids["ReferencedSOPInstanceUID"] = str(
        stored.ReferencedImageSequence[0].ReferencedSOPInstanceUID
    )
    uids["SOPClassUID"] = str(stored.SOPClassUID)
    return uids


def test_uids_are_replaced_consistently_per_key() -> None:
    upload = to_bytes(identified())
    first = _uids(ingest(upload, uid_key=KEY).data)
    again = _uids(ingest(upload, uid_key=KEY).data)
    other = _uids(ingest(upload, uid_key=OTHER_KEY).data)
    assert first == again
    for keyword, original in ORIGINAL_UIDS.items():
        assert first[keyword] != original
        assert re.fullmatch(r"2\.25\.[1-9][0-9]*", first[keyword])
        assert len(first[keyword]) <= 64
        assert other[keyword] != first[keyword]
    # the file meta and references point at the same replaced instance
    assert first["MediaStorageSOPInstanceUID"] == first["SOPInstanceUID"]
    assert first["ReferencedSOPInstanceUID"] == first["SOPInstanceUID"]
    # DICOM-defined UIDs (the SOP class) are not instance identifiers and stay
    assert first["SOPClassUID"] == "1.2.840.10008.5.1.4.1.1.7"


def test_burned_in_annotation_is_recorded() -> None:
    ds = identified()
    ds.BurnedInAnnotation = "YES"
    assert ingest(to_bytes(ds), uid_key=KEY).burned_in_annotation == "YES"
    del ds.BurnedInAnnotation
    assert ingest(to_bytes(ds), uid_key=KEY).burned_in_annotation is None
