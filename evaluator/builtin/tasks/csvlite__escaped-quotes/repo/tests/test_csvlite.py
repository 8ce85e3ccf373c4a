from csvlite import convert, format_row, parse_line, read, read_dicts, select_columns, where


def test_simple_line():
    assert parse_line("a,b,c") == ["a", "b", "c"]


def test_quoted_delimiter():
    assert parse_line('a,"b,c",d') == ["a", "b,c", "d"]


def test_read_skips_blank_lines():
    assert read("a,b\n\nc,d\n") == [["a", "b"], ["c", "d"]]


def test_read_dicts():
    assert read_dicts("name,age\nAda,36\n") == [{"name": "Ada", "age": "36"}]


def test_convert_numbers():
    assert convert([{"n": "42", "x": "1.5", "s": "hi"}]) == [{"n": 42, "x": 1.5, "s": "hi"}]


def test_format_plain_row():
    assert format_row(["a", "b,c", 3]) == 'a,"b,c",3'


def test_select_and_where():
    rows = [{"a": 1, "b": 2}, {"a": 3, "b": 4}]
    assert select_columns(where(rows, "a", lambda v: v > 1), ["b"]) == [{"b": 4}]
