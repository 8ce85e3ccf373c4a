from minimd import render, render_inline


def test_heading_and_paragraph():
    assert render("# Hi\n\nSome *text*.") == "<h1>Hi</h1>\n<p>Some <em>text</em>.</p>"


def test_bold():
    assert render_inline("a **b** c") == "a <strong>b</strong> c"


def test_link():
    assert render_inline("[home](/index)") == '<a href="/index">home</a>'


def test_bullets():
    assert render("- a\n- b") == "<ul><li>a</li><li>b</li></ul>"


def test_paragraph_lines_joined():
    assert render("one\ntwo\n\nthree") == "<p>one two</p>\n<p>three</p>"
