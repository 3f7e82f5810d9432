"""synth/toml_file.py: TOML tables with the positions tomllib does not keep."""
import pytest

from synth.errors import ConfigError
from synth.toml_file import key_position, read_toml


def test_key_positions_find_bare_quoted_and_table_keys():
    text = 'batch = 4\n  "seed" = 1\n[rl]\nx = 1\n'
    assert key_position(text, "batch", "f.toml") == {"filename": "f.toml", "line": 1, "column": 1,
                                                     "source_line": "batch = 4"}
    assert key_position(text, "seed", "f.toml")["line"] == 2
    assert key_position(text, "seed", "f.toml")["column"] == 3
    assert key_position(text, "rl", "f.toml")["line"] == 3
    assert key_position(text, "batchx", "f.toml") == {"filename": "f.toml"}


def test_a_file_reads_with_a_position_per_key_and_a_bom_is_not_an_error(tmp_path):
    path = tmp_path / "c.toml"
    path.write_bytes("\ufeffbatch = 4\r\nseed = 2\r\n".encode())
    values, positions = read_toml(path)
    assert values == {"batch": 4, "seed": 2}
    assert positions["seed"]["line"] == 2 and positions["seed"]["source_line"] == "seed = 2"


def test_syntax_errors_are_positioned_and_at_the_end_of_the_document(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("batch = 4\nseed = [\n")
    with pytest.raises(ConfigError) as error:
        read_toml(path)
    assert error.value.line == 2 and "invalid TOML" in str(error.value)


@pytest.mark.parametrize("make,words", [
    (lambda p: None, "does not exist"),
    (lambda p: p.mkdir(), "is not a file"),
    (lambda p: p.write_bytes(b"batch = \xff\n"), "is not UTF-8 text"),
])
def test_unreadable_files_are_config_errors(tmp_path, make, words):
    path = tmp_path / "c.toml"
    make(path)
    with pytest.raises(ConfigError, match=words):
        read_toml(path)
