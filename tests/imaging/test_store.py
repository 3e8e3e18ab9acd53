"""The content-addressed image store and its cached display levels."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from dicom_patterns import SQUARE, dataset, pattern, to_bytes
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from kyphos.errors import NotFoundError
from kyphos.imaging import Ingested, ingest
from kyphos.imaging import store as store_module
from kyphos.imaging.display import level_sizes
from kyphos.imaging.store import ImageStore

KEY = b"k"


def _ingested(**attributes: object) -> Ingested:
    ds = dataset(pattern(12), bits_stored=12)
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ingest(to_bytes(ds), uid_key=KEY)


def _png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_put_stores_the_file_under_its_sha256_and_reads_it_back(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images")
    image = _ingested()
    sha = store.put(image)
    assert sha == image.sha256
    assert store.has(sha)
    assert store.read(sha) == image.data
    assert (tmp_path / "images" / sha[:2] / sha).is_file()


def test_putting_the_same_image_twice_does_not_rewrite_it(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images")
    image = _ingested()
    store.put(image)
    path = tmp_path / "images" / image.sha256[:2] / image.sha256
    before = _files(tmp_path)
    os.utime(path, (1_000_000, 1_000_000))
    assert store.put(ingest(to_bytes(dataset(pattern(12), bits_stored=12)), uid_key=KEY)) == (
        image.sha256
    )
    assert path.stat().st_mtime == 1_000_000  # untouched
    assert _files(tmp_path) == before


def test_a_failed_write_leaves_neither_the_file_nor_a_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ImageStore(tmp_path / "images")

    def broken_replace(source: str, target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module.os, "replace", broken_replace)
    image = _ingested()
    with pytest.raises(OSError):
        store.put(image)
    assert not store.has(image.sha256)
    assert _files(tmp_path) == []


def test_writes_go_through_a_temporary_file_in_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ImageStore(tmp_path / "images")
    moves: list[tuple[Path, Path]] = []
    real_replace = os.replace

    def recording_replace(source: str, target: Path) -> None:
        moves.append((Path(source), Path(target)))
        real_replace(source, target)

    monkeypatch.setattr(store_module.os, "replace", recording_replace)
    store.put(_ingested())
    assert moves
    for source, _ in moves:
        assert source.parent == tmp_path / "images"
        assert source.name.startswith(".tmp-")
    assert not [p for p in (tmp_path / "images").iterdir() if p.name.startswith(".tmp-")]


def test_level_sizes_halve_until_the_long_side_is_512_or_less() -> None:
    assert level_sizes(64, 48) == [(64, 48)]
    assert level_sizes(1200, 600) == [(1200, 600), (600, 300), (300, 150)]
    assert level_sizes(3000, 3000) == [(3000, 3000), (1500, 1500), (750, 750), (375, 375)]
    # over the 4096 cap: 1000 · 4096 / 5000 = 819.2 → 819
    assert level_sizes(5000, 1000) == [(4096, 819), (2048, 409), (1024, 204), (512, 102)]


def test_put_makes_every_display_level_eagerly(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images")
    ds = dataset(pattern(12, rows=600, columns=1200), bits_stored=12)
    sha = store.put(ingest(to_bytes(ds), uid_key=KEY))
    assert store.levels(sha) == [(1200, 600), (600, 300), (300, 150)]
    for level, (width, height) in enumerate(store.levels(sha)):
        assert (tmp_path / "images" / "display" / sha / f"{level}.png").is_file()
        assert _png(store.display(sha, level)).shape == (height, width)


def test_display_is_served_from_the_cache_without_decoding_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ImageStore(tmp_path / "images")
    sha = store.put(_ingested())

    def no_decoding(data: bytes) -> np.ndarray:
        raise AssertionError("the display cache was not used")

    monkeypatch.setattr(store_module, "display_pixels", no_decoding)
    assert _png(store.display(sha, 0)).shape == (48, 64)


def test_display_is_rebuilt_when_the_cache_is_gone(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images")
    sha = store.put(_ingested())
    first = store.display(sha)
    for path in (tmp_path / "images" / "display" / sha).iterdir():
        path.unlink()
    assert store.display(sha) == first


def test_monochrome1_is_inverted_so_the_bright_square_becomes_dark(tmp_path: Path) -> None:
    # the square holds the largest value (4095); min-max puts it at 255 in MONOCHROME2
    # and, since MONOCHROME1 means "0 is white", at 0 after inversion
    store = ImageStore(tmp_path / "images")
    normal = _png(store.display(store.put(_ingested())))
    inverted = _png(store.display(store.put(_ingested(PhotometricInterpretation="MONOCHROME1"))))
    assert normal[SQUARE].min() == 255
    assert inverted[SQUARE].max() == 0
    assert inverted[0, 0] == 255  # the darkest stored value (0) is white
    np.testing.assert_array_equal(inverted, 255 - normal)


def test_window_maps_below_to_black_above_to_white_and_centre_to_mid_grey(
    tmp_path: Path,
) -> None:
    # PS3.3 C.11.2.1.2.1 with centre c = 1000, width w = 200:
    # x <= c − 0.5 − (w − 1)/2 = 900 → 0; x > c − 0.5 + (w − 1)/2 = 1099 → 255;
    # x = 1000 → ((1000 − 999.5)/199 + 0.5) · 255 = 128.14 → 128
    pixels = np.zeros((48, 64), np.uint16)
    pixels[:, :16] = 500
    pixels[:, 16:32] = 1000
    pixels[:, 32:48] = 2000
    pixels[:, 48:] = 900
    ds = dataset(pixels, bits_stored=12)
    ds.WindowCenter = 1000
    ds.WindowWidth = 200
    store = ImageStore(tmp_path / "images")
    shown = _png(store.display(store.put(ingest(to_bytes(ds), uid_key=KEY))))
    assert set(np.unique(shown[:, :16])) == {0}
    assert set(np.unique(shown[:, 16:32])) == {128}
    assert set(np.unique(shown[:, 32:48])) == {255}
    assert set(np.unique(shown[:, 48:])) == {0}


def test_rescale_slope_and_intercept_apply_before_the_window(tmp_path: Path) -> None:
    # stored 500 · slope 2 + intercept 0 = 1000 = the window centre → 128, as above
    pixels = np.full((48, 64), 500, np.uint16)
    pixels[0, 0] = 0
    ds = dataset(pixels, bits_stored=12)
    ds.RescaleSlope, ds.RescaleIntercept = 2, 0
    ds.WindowCenter, ds.WindowWidth = 1000, 200
    store = ImageStore(tmp_path / "images")
    shown = _png(store.display(store.put(ingest(to_bytes(ds), uid_key=KEY))))
    assert shown[1, 1] == 128


def test_rgb_png_stays_rgb(tmp_path: Path) -> None:
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[..., 0] = 200
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    store = ImageStore(tmp_path / "images")
    shown = _png(store.display(store.put(ingest(buffer.getvalue(), uid_key=KEY))))
    np.testing.assert_array_equal(shown, rgb)


@pytest.mark.parametrize(
    "sha",
    ["../../etc/passwd", "a" * 63, "A" * 64, "../" + "a" * 61, "a" * 32 + "/" + "a" * 31, ""],
)
def test_a_hash_that_is_not_64_lowercase_hex_never_becomes_a_path(tmp_path: Path, sha: str) -> None:
    store = ImageStore(tmp_path / "images")
    assert store.has(sha) is False
    with pytest.raises(NotFoundError):
        store.read(sha)
    with pytest.raises(NotFoundError):
        store.display(sha)
    with pytest.raises(NotFoundError):
        store.levels(sha)


def test_missing_image_or_level_raises_not_found(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images")
    with pytest.raises(NotFoundError):
        store.display("0" * 64)
    with pytest.raises(NotFoundError):
        store.read("0" * 64)
    sha = store.put(_ingested())
    with pytest.raises(NotFoundError):
        store.display(sha, 1)
    with pytest.raises(NotFoundError):
        store.display(sha, -1)


def test_remove_deletes_the_file_and_its_display_levels(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images")
    sha = store.put(_ingested())
    store.remove(sha)
    assert not store.has(sha)
    assert not (tmp_path / "images" / "display" / sha).exists()


def test_voi_lut_sequence_is_used_when_there_is_no_window(tmp_path: Path) -> None:
    # an inverting LUT over 0–4095: output = 4095 − input (descriptor: 4096 entries,
    # first mapped value 0, 16 bits per entry; PS3.3 C.11.2.1.1); then min-max to 8 bits,
    # so the square (4095) shows black and the top-left corner (0) white
    pixels = pattern(12)
    ds = dataset(pixels, bits_stored=12)
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 16]
    item.LUTData = (4095 - np.arange(4096, dtype=np.uint16)).astype("<u2").tobytes()
    ds.VOILUTSequence = Sequence([item])
    store = ImageStore(tmp_path / "images")
    shown = _png(store.display(store.put(ingest(to_bytes(ds), uid_key=KEY))))
    expected = np.rint((4095 - pixels.astype(float)) * 255 / 4095).astype(np.uint8)
    np.testing.assert_array_equal(shown, expected)
