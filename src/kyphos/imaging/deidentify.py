"""De-identification of DICOM datasets in memory.

Follows the Basic Application Level Confidentiality Profile of DICOM PS3.15 Annex E;
the attributes below were written from the profile's table (DICOM PS3.15 Table E.1-1)
and are applied to the dataset and every nested sequence item:

* :data:`BLANKED` (action Z, type 2 attributes the IODs require to be present) become
  empty; :data:`REMOVED` (actions X, X/Z, X/D, D for free text and identifying
  sequences) are deleted.
* Every person name (VR PN) is emptied and every date, date-time and time (VR DA, DT,
  TM) is emptied: the profile removes or blanks dates and names wherever they occur,
  and kyphos keeps the visit dates in the registry instead.
* Every UID (VR UI) that is not a DICOM-defined UID (root ``1.2.840.10008``) or a SOP
  Class / transfer syntax is replaced (action U) by ``2.25.<integer>``, the integer being
  the first 128 bits of HMAC-SHA256(``uid_key``, original UID): the same original with the
  same key always gives the same new UID, so study/series/instance structure survives
  (``2.25`` UIDs per DICOM PS3.5 Annex B.2; at most 44 characters, under the 64 allowed).
* Private tags are dropped; curve data (groups 50xx) and overlay comments (60xx,4000)
  are dropped.
* Patient Identity Removed (0012,0062) = ``YES``, De-identification Method (0012,0063)
  and its code sequence (0012,0064: DCM 113100, "Basic Application Confidentiality
  Profile") are set.

Geometry and display attributes are kept untouched: Pixel Spacing, Imager Pixel
Spacing, Estimated Radiographic Magnification Factor, Photometric Interpretation,
Window Center / Width, VOI LUT Sequence, Rows, Columns, Bits Allocated/Stored, etc.
"""

from __future__ import annotations

import hashlib
import hmac

from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID

#: De-identification Method (0012,0063) is an LO: at most 64 characters.
DEIDENTIFICATION_METHOD = "kyphos: PS3.15 Basic Application Confidentiality Profile"

#: Type 2 attributes emptied rather than removed (PS3.15 Table E.1-1 action Z).
BLANKED: tuple[str, ...] = (
    "AccessionNumber",
    "PatientBirthDate",
    "PatientID",
    "PatientName",
    "PatientSex",
    "ReferringPhysicianName",
    "StudyDate",
    "StudyID",
    "StudyTime",
    "ContentCreatorName",
)

#: Attributes removed (PS3.15 Table E.1-1 actions X, X/Z, X/D and D on free text).
REMOVED: tuple[str, ...] = (
    "AcquisitionComments",
    "AcquisitionContextSequence",
    "AcquisitionDate",
    "AcquisitionDateTime",
    "AcquisitionDeviceProcessingDescription",
    "AcquisitionProtocolDescription",
    "AcquisitionTime",
    "ActualHumanPerformersSequence",
    "AdditionalPatientHistory",
    "AdmissionID",
    "AdmittingDate",
    "AdmittingDiagnosesCodeSequence",
    "AdmittingDiagnosesDescription",
    "AdmittingTime",
    "Allergies",
    "AuthorObserverSequence",
    "BranchOfService",
    "CassetteID",
    "CommentsOnThePerformedProcedureStep",
    "ConfidentialityConstraintOnPatientDataDescription",
    "ContentCreatorIdentificationCodeSequence",
    "ContentDate",
    "ContentSequence",
    "ContentTime",
    "ContributionDescription",
    "CountryOfResidence",
    "CurrentPatientLocation",
    "CustodialOrganizationSequence",
    "DataSetTrailingPadding",
    "DerivationDescription",
    "DetectorID",
    "DeviceSerialNumber",
    "DigitalSignaturesSequence",
    "DischargeDiagnosisDescription",
    "DistributionAddress",
    "DistributionName",
    "EthnicGroup",
    "FillerOrderNumberImagingServiceRequest",
    "FrameComments",
    "GantryID",
    "GeneratorID",
    "GraphicAnnotationSequence",
    "HumanPerformerName",
    "HumanPerformerOrganization",
    "IconImageSequence",
    "IdentifyingComments",
    "ImageComments",
    "ImagePresentationComments",
    "ImagingServiceRequestComments",
    "Impressions",
    "InstanceCreationDate",
    "InstanceCreationTime",
    "InstitutionAddress",
    "InstitutionCodeSequence",
    "InstitutionName",
    "InstitutionalDepartmentName",
    "InsurancePlanIdentification",
    "IntendedRecipientsOfResultsIdentificationSequence",
    "InterpretationApproverSequence",
    "InterpretationAuthor",
    "InterpretationDiagnosisDescription",
    "InterpretationIDIssuer",
    "InterpretationRecorder",
    "InterpretationText",
    "InterpretationTranscriber",
    "IssuerOfAccessionNumberSequence",
    "IssuerOfAdmissionID",
    "IssuerOfPatientID",
    "IssuerOfServiceEpisodeID",
    "LastMenstrualDate",
    "MedicalAlerts",
    "MedicalRecordLocator",
    "MilitaryRank",
    "ModifiedAttributesSequence",
    "ModifyingDeviceID",
    "ModifyingDeviceManufacturer",
    "NameOfPhysiciansReadingStudy",
    "NamesOfIntendedRecipientsOfResults",
    "Occupation",
    "OperatorIdentificationSequence",
    "OperatorsName",
    "OrderCallbackPhoneNumber",
    "OrderEnteredBy",
    "OrderEntererLocation",
    "OriginalAttributesSequence",
    "OtherPatientIDs",
    "OtherPatientIDsSequence",
    "OtherPatientNames",
    "ParticipantSequence",
    "PatientAddress",
    "PatientAge",
    "PatientBirthName",
    "PatientBirthTime",
    "PatientComments",
    "PatientInstitutionResidence",
    "PatientInsurancePlanCodeSequence",
    "PatientMotherBirthName",
    "PatientPrimaryLanguageCodeSequence",
    "PatientPrimaryLanguageModifierCodeSequence",
    "PatientReligiousPreference",
    "PatientSexNeutered",
    "PatientSize",
    "PatientState",
    "PatientTelephoneNumbers",
    "PatientTransportArrangements",
    "PatientWeight",
    "PerformedLocation",
    "PerformedProcedureStepDescription",
    "PerformedProcedureStepEndDate",
    "PerformedProcedureStepEndTime",
    "PerformedProcedureStepID",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
    "PerformedStationAETitle",
    "PerformedStationGeographicLocationCodeSequence",
    "PerformedStationName",
    "PerformedStationNameCodeSequence",
    "PerformingPhysicianIdentificationSequence",
    "PerformingPhysicianName",
    "PersonAddress",
    "PersonIdentificationCodeSequence",
    "PersonName",
    "PersonTelephoneNumbers",
    "PhysicianApprovingInterpretation",
    "PhysiciansOfRecord",
    "PhysiciansOfRecordIdentificationSequence",
    "PhysiciansReadingStudyIdentificationSequence",
    "PlacerOrderNumberImagingServiceRequest",
    "PlateID",
    "PreMedication",
    "PregnancyStatus",
    "ProtocolName",
    "ReasonForStudy",
    "ReferencedDigitalSignatureSequence",
    "ReferencedPatientAliasSequence",
    "ReferencedPatientSequence",
    "ReferencedPerformedProcedureStepSequence",
    "ReferencedSOPInstanceMACSequence",
    "ReferencedStudySequence",
    "ReferringPhysicianAddress",
    "ReferringPhysicianIdentificationSequence",
    "ReferringPhysicianTelephoneNumbers",
    "RegionOfResidence",
    "RequestAttributesSequence",
    "RequestedContrastAgent",
    "RequestedProcedureComments",
    "RequestedProcedureDescription",
    "RequestedProcedureID",
    "RequestedProcedureLocation",
    "RequestingPhysician",
    "RequestingService",
    "ResponsibleOrganization",
    "ResponsiblePerson",
    "ResultsComments",
    "ResultsDistributionListSequence",
    "ResultsIDIssuer",
    "ReviewerName",
    "ScheduledHumanPerformersSequence",
    "ScheduledPatientInstitutionResidence",
    "ScheduledPerformingPhysicianIdentificationSequence",
    "ScheduledPerformingPhysicianName",
    "ScheduledProcedureStepDescription",
    "ScheduledProcedureStepEndDate",
    "ScheduledProcedureStepEndTime",
    "ScheduledProcedureStepLocation",
    "ScheduledProcedureStepStartDate",
    "ScheduledProcedureStepStartTime",
    "ScheduledStationAETitle",
    "ScheduledStationGeographicLocationCodeSequence",
    "ScheduledStationName",
    "ScheduledStationNameCodeSequence",
    "ScheduledStudyLocation",
    "ScheduledStudyLocationAETitle",
    "SeriesDate",
    "SeriesDescription",
    "SeriesTime",
    "ServiceEpisodeDescription",
    "ServiceEpisodeID",
    "SmokingStatus",
    "SourceImageSequence",
    "SpecialNeeds",
    "StationName",
    "StudyComments",
    "StudyDescription",
    "StudyIDIssuer",
    "TextComments",
    "TextString",
    "TimezoneOffsetFromUTC",
    "TopicAuthor",
    "TopicKeywords",
    "TopicSubject",
    "TopicTitle",
    "VerifyingObserverIdentificationCodeSequence",
    "VerifyingObserverName",
    "VerifyingObserverSequence",
    "VerifyingOrganization",
    "VisitComments",
)

#: File meta attributes that name the sending or receiving systems.
REMOVED_META: tuple[str, ...] = (
    "SourceApplicationEntityTitle",
    "SendingApplicationEntityTitle",
    "ReceivingApplicationEntityTitle",
    "PrivateInformationCreatorUID",
    "PrivateInformation",
    "ImplementationVersionName",
)

DICOM_UID_ROOT = "1.2.840.10008."
_KEPT_UID_KEYWORDS = frozenset({"TransferSyntaxUID", "ImplementationClassUID"})
_EMPTIED_VRS = frozenset({"PN", "DA", "DT", "TM"})


def _tags(keywords: tuple[str, ...]) -> frozenset[int]:
    tags = set()
    for keyword in keywords:
        tag = tag_for_keyword(keyword)
        if tag is None:  # a misspelt keyword must not silently weaken the profile
            raise RuntimeError(f"{keyword} is not a DICOM keyword")
        tags.add(tag)
    return frozenset(tags)


_BLANKED_TAGS = _tags(BLANKED)
_REMOVED_TAGS = _tags(REMOVED)


def replacement_uid(uid: str, uid_key: bytes) -> str:
    """The ``2.25.`` UID that stands for ``uid`` under ``uid_key`` (always the same)."""
    digest = hmac.new(uid_key, uid.strip().encode("ascii", "replace"), hashlib.sha256).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def _keeps_uid(keyword: str, value: str) -> bool:
    return (
        value.startswith(DICOM_UID_ROOT)
        or keyword.endswith("ClassUID")
        or keyword in _KEPT_UID_KEYWORDS
    )


def _replace_uids(element: DataElement, uid_key: bytes) -> None:
    values = element.value
    if isinstance(values, MultiValue | list):
        element.value = [
            str(v) if _keeps_uid(element.keyword, str(v)) else replacement_uid(str(v), uid_key)
            for v in values
        ]
    elif values:
        text = str(values)
        if not _keeps_uid(element.keyword, text):
            element.value = replacement_uid(text, uid_key)


def _clean(dataset: Dataset, uid_key: bytes) -> None:
    for element in list(dataset):
        tag = int(element.tag)
        group = tag >> 16
        curve = 0x5000 <= group <= 0x50FF
        overlay_comment = 0x6000 <= group <= 0x60FF and tag & 0xFFFF == 0x4000
        if element.tag.is_private or tag in _REMOVED_TAGS or curve or overlay_comment:
            del dataset[element.tag]
        elif tag in _BLANKED_TAGS or element.VR in _EMPTIED_VRS:
            element.value = None
        elif element.VR == "UI":
            _replace_uids(element, uid_key)
        elif element.VR == "SQ":
            for item in element.value:
                _clean(item, uid_key)


def _clean_meta(meta: FileMetaDataset, uid_key: bytes) -> None:
    for keyword in REMOVED_META:
        if keyword in meta:
            delattr(meta, keyword)
    for element in meta:
        if element.VR == "UI":
            _replace_uids(element, uid_key)
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID


def deidentify(dataset: Dataset, uid_key: bytes) -> None:
    """De-identify ``dataset`` (and its file meta) in place; see the module docstring."""
    if not uid_key:
        raise ValueError("uid_key must not be empty")
    _clean(dataset, uid_key)
    if getattr(dataset, "file_meta", None) is not None:
        _clean_meta(dataset.file_meta, uid_key)
    dataset.PatientIdentityRemoved = "YES"
    dataset.DeidentificationMethod = DEIDENTIFICATION_METHOD
    code = Dataset()
    code.CodeValue = "113100"
    code.CodingSchemeDesignator = "DCM"
    code.CodeMeaning = "Basic Application Confidentiality Profile"
    dataset.DeidentificationMethodCodeSequence = Sequence([code])
    dataset.LongitudinalTemporalInformationModified = "REMOVED"
