"""Program: pixels for users (uint8 and Pillow), the notebook representation, and loading a
file that is not a program."""
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spiral_dsl import Program, SplError, SplSyntaxError
from spiral_dsl.io import to_uint8
from spiral_dsl.program import NOTEBOOK_SIZE

REPO = Path(__file__).resolve().parents[1]
TICKS = REPO / "examples" / "ticks.spl"


@pytest.fixture(scope="module")
def ticks():
    return Program.load(TICKS)


def test_render_keeps_its_float_contract(ticks):
    image = ticks.render()
    assert image.dtype == np.float32 and image.shape == (64, 64, 3)
    assert 0 <= image.min() and image.max() <= 1


def test_to_image_is_the_uint8_rendering(ticks):
    image = ticks.to_image()
    assert isinstance(image, Image.Image) and image.mode == "RGB" and image.size == (64, 64)
    assert np.array_equal(np.asarray(image), to_uint8(ticks.render()))
    assert ticks.to_image(size=128).size == (128, 128)
    # what users tried first: Pillow from the pixels
    assert Image.fromarray(np.asarray(image)).size == (64, 64)


def test_to_image_saves_in_any_pillow_format(ticks, tmp_path):
    ticks.to_image().save(tmp_path / "t.jpg")
    with Image.open(tmp_path / "t.jpg") as im:
        assert im.format == "JPEG"


def test_notebooks_show_the_real_rendering_at_a_legible_size(ticks):
    assert not hasattr(ticks, "_repr_svg_")   # frontends would prefer the SVG approximation
    png = ticks._repr_png_()
    with Image.open(io.BytesIO(png)) as im:
        assert im.format == "PNG" and im.size == (NOTEBOOK_SIZE, NOTEBOOK_SIZE)
        shown = np.asarray(im.convert("RGB"))
    assert np.array_equal(shown, to_uint8(ticks.render(size=NOTEBOOK_SIZE)))


def test_a_large_canvas_is_shown_at_its_own_size():
    p = Program.parse("paint canvas=300\nmove to (1, 1)")
    with Image.open(io.BytesIO(p._repr_png_())) as im:
        assert im.size == (300, 300)


def test_loading_an_image_as_a_program_is_a_positioned_error(tmp_path):
    png = tmp_path / "digit7.png"
    Image.new("RGB", (4, 4)).save(png)
    with pytest.raises(SplSyntaxError) as e:
        Program.load(png)
    assert str(e.value).startswith(f"{png}:1:1: not UTF-8 text: byte 0x89")


def test_a_bad_byte_later_in_a_file_is_positioned_at_it(tmp_path):
    path = tmp_path / "latin1.spl"
    path.write_bytes("paint\n// café\n".encode("latin-1"))
    with pytest.raises(SplError) as e:
        Program.load(path)
    assert (e.value.line, e.value.column) == (2, 7)
