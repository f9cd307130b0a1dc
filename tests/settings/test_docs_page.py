"""docs/connection.md is generated from get_provider_info(): the committed page must be current."""

from __future__ import annotations

from lockit_provider import docs_gen
from lockit_provider.connection_extras import EXTRAS


def test_committed_page_is_the_generated_one() -> None:
    committed = docs_gen.PAGE.read_text(encoding="utf-8")
    assert committed == docs_gen.render(), (
        "docs/connection.md is stale: run python -m lockit_provider.docs_gen"
    )
    assert docs_gen.main(["--check"]) == 0


def test_page_lists_every_extra_with_its_label_and_default() -> None:
    page = docs_gen.render()
    for extra in EXTRAS:
        (row,) = [line for line in page.splitlines() if line.startswith(f"| `{extra.name}` |")]
        assert f"| {extra.label} |" in row
        if extra.default is not None:
            assert str(extra.default).lower() in row.lower()


def test_check_fails_on_a_stale_page(tmp_path, monkeypatch, capsys) -> None:
    stale = tmp_path / "connection.md"
    stale.write_text(docs_gen.render().replace("Timeout (seconds)", "Timeout"), encoding="utf-8")
    monkeypatch.setattr(docs_gen, "PAGE", stale)
    assert docs_gen.main(["--check"]) == 1
    assert "out of date" in capsys.readouterr().err
