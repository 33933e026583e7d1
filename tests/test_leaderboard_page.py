"""The built leaderboard page in a real browser (tests/browser.py: headless Chromium via Selenium)."""

from __future__ import annotations

from pathlib import Path

from leaderboard_fixtures import MODELS, XSS_NAME, load, submission_files

from anchorbench.cli import main


def _names(driver, table: str = "ranked") -> list[str]:
    rows = driver.find_elements("css selector", f"#{table} tbody tr")
    return [r.get_attribute("data-name") for r in rows]


def _table(key: str) -> str:
    """The table a score is in: the main one for each entry's primary score, else its entry's own."""
    from anchorbench.leaderboard.build import main_columns

    return "ranked" if key in {c.key for c in main_columns()} else f"task-{key.partition('.')[0]}"


def _column(driver, key: str) -> tuple[object, int, str]:
    table = _table(key)
    if table != "ranked":  # open the entry's section so that its headers can be clicked
        details = driver.find_element("css selector", f'details[data-task="{key.partition(".")[0]}"]')
        if details.get_attribute("open") is None:
            details.find_element("css selector", "summary").click()
    th = driver.find_element("css selector", f'#{table} thead th[data-key="{key}"]')
    return th, int(th.get_attribute("data-col")), th.get_attribute("data-direction")


def _values(driver, col: int, table: str = "ranked") -> list[float]:
    rows = driver.find_elements("css selector", f"#{table} tbody tr")
    return [float(r.find_elements("css selector", "td")[col].get_attribute("data-value")) for r in rows]


def test_page_lists_sorts_filters_and_escapes(browser, board: Path, tmp_path: Path) -> None:
    assert main(["leaderboard", "build", "--folder", str(board)]) == 0
    browser.get((board / "index.html").resolve().as_uri())

    # the main table at a glance: rank, submission, model, params, the mean primary score with its
    # interval, one primary score per entry; every other score in a closed section per entry
    heads = [th.text for th in browser.find_elements("css selector", "#ranked thead tr:last-child th")]
    assert heads[:5] == ["#", "submission", "model", "params", "mean primary score ↑"], heads
    assert len(heads) == 5 + 2  # the tiny suite's two entries
    first = browser.find_elements("css selector", "#ranked tbody tr")[0].find_elements("css selector", "td")[4]
    assert first.get_attribute("data-low") is not None and "[" in first.text
    sections = browser.find_elements("css selector", "details.task")
    assert [d.get_attribute("data-task") for d in sections] == ["identity", "grokking"]
    assert all(d.get_attribute("open") is None for d in sections)
    assert not browser.find_element("id", "task-identity").is_displayed()
    browser.set_window_size(1400, 900)
    shot = tmp_path / "board.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000, "a blank page"
    from PIL import Image

    with Image.open(shot) as image:  # the main table is drawn: many distinct colours, not one blank field
        assert image.size[0] >= 1000 and len(image.convert("RGB").getcolors(1 << 20) or []) > 20

    # every submission has its row, names shown as text
    names = _names(browser)
    assert sorted(names) == sorted(MODELS.values())
    assert browser.title == "anchorbench leaderboard", "a submission's <script> ran"
    cell = browser.find_element("xpath", "//tr[contains(@data-name, 'LSTM')]/td[2]")
    assert cell.text == XSS_NAME  # the markup is shown, not interpreted
    assert not browser.find_elements("css selector", "#ranked tbody b")

    # sorting by a lower-is-better column puts the smallest first; a second click reverses
    loss_th, col, direction = _column(browser, "identity.test_loss")
    assert direction == "lower"
    subs = [load(p) for p in submission_files(board)]
    loss = {s["name"]: s["tasks"]["identity"]["scores"]["test_loss"]["mean"] for s in subs}
    assert len(set(loss.values())) == len(loss), "the test needs distinct values to see an order"
    before = _names(browser)
    assert browser.find_element("id", "task-identity").is_displayed(), "a click on the entry's summary opens it"
    loss_th.click()
    assert _names(browser, "task-identity") == sorted(loss, key=loss.get)
    assert _values(browser, col, "task-identity") == sorted(_values(browser, col, "task-identity"))
    assert loss_th.get_attribute("aria-sort") == "ascending"
    loss_th.click()
    assert _names(browser, "task-identity") == sorted(loss, key=loss.get, reverse=True)
    assert _names(browser, "task-identity") != before or sorted(loss, key=loss.get) != before

    # a higher-is-better column sorts the largest first
    train_th, col, direction = _column(browser, "grokking.train_accuracy")
    assert direction == "higher"
    train_th.click()
    values = _values(browser, col, "task-grokking")
    assert values == sorted(values, reverse=True)
    assert train_th.get_attribute("aria-sort") == "descending"

    # filtering by task hides the other task's columns and keeps the submission columns
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", "task-filter")).select_by_value("grokking")
    shown = [th for th in browser.find_elements("css selector", "#ranked thead th[data-col]") if th.is_displayed()]
    tasks = {th.get_attribute("data-task") for th in shown}
    assert tasks == {"", "grokking"}, tasks
    assert {"submission", "params"} <= {th.text for th in shown}
    cells = browser.find_elements("css selector", "#ranked tbody td[data-task='identity']")
    assert cells and not any(td.is_displayed() for td in cells)
    assert not browser.find_element("css selector", 'details[data-task="identity"]').is_displayed()
    assert browser.find_element("css selector", 'details[data-task="grokking"]').is_displayed()


def _interval(sub: dict, task: str, score: str) -> tuple[float, float]:
    summary = sub["tasks"][task]["scores"][score]
    return summary["ci_low"], summary["ci_high"]


def _overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def test_page_marks_the_entries_a_score_does_not_separate(browser, board: Path) -> None:
    assert main(["leaderboard", "build", "--folder", str(board)]) == 0
    browser.get((board / "index.html").resolve().as_uri())
    subs = {s["name"]: s for s in map(load, submission_files(board))}
    marked_columns = 0
    scores = [("identity", "test_loss", "lower"), ("identity", "train_accuracy", "higher"),
              ("grokking", "test_loss", "lower"), ("grokking", "train_accuracy", "higher")]  # fmt: skip
    for task, score, direction in scores:
        # expected, from the submissions: the rows whose interval overlaps the best mean's row
        sign = 1 if direction == "higher" else -1
        best = max(subs, key=lambda n: sign * subs[n]["tasks"][task]["scores"][score]["mean"])
        tied = {
            n
            for n in subs
            if n != best and _overlaps(_interval(subs[n], task, score), _interval(subs[best], task, score))
        }
        expected = tied | {best} if tied else set()
        th, col, _ = _column(browser, f"{task}.{score}")
        table = _table(f"{task}.{score}")
        rows = browser.find_elements("css selector", f"#{table} tbody tr")
        cells = {r.get_attribute("data-name"): r.find_elements("css selector", "td")[col] for r in rows}
        shown = {name for name, td in cells.items() if "not-separated" in td.get_attribute("class")}
        assert shown == expected, (task, score)
        marked_columns += bool(expected)

        # sorted by this score, a cell is barred when its interval overlaps the row above's
        th.click()
        names = _names(browser, table)
        bars = [("tied-above" in r.find_elements("css selector", "td")[col].get_attribute("class"))
                for r in browser.find_elements("css selector", f"#{table} tbody tr")]  # fmt: skip
        above = [False] + [_overlaps(_interval(subs[a], task, score), _interval(subs[b], task, score))
                           for a, b in zip(names, names[1:])]  # fmt: skip
        assert bars == above, (task, score, names)
    # the fixture has a score with ties and one whose best stands alone: both paths are seen
    assert 0 < marked_columns < 4
