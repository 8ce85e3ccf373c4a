"""The evaluation page's step timing: each step of the trajectory with its
model time, tool time and (from the gateway's calls) its tokens."""

from __future__ import annotations

import re

from archive import Archive
from tests.api.populate import populate_run


def _cells(html: str) -> list[list[str]]:
    table = html.split('id="steps"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)
    cells = [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", row, re.S)] for row in rows]
    return [row for row in cells if row]  # the header row has no <td>


def test_steps_with_time_and_tokens(serve_app, archive: Archive) -> None:
    ids = populate_run(archive)
    evaluation = ids["evaluations"][0]
    server = serve_app()
    with server.client() as client:
        page = client.get(f"/evaluations/{evaluation}")
        assert page.status_code == 200 and 'id="timing"' in page.text
        # one step: the answer came 0.9 s after the task (stamps 1.1 → 2.0), bash ran 0.5 s (→ 2.5),
        # the gateway's call had 120 prompt and 30 completion tokens
        assert _cells(page.text) == [["1", "1.0 s", "0.90 s", "0.50 s", "bash", "-", "120", "30"]]
        assert "2 s from the first entry to the last" in page.text
        assert re.findall(r'class="at">\+([0-9.]+) s', page.text) == ["0.00", "0.10", "1.00", "1.50", "2.00"]
        # a call the steps cannot be paired with: no tokens per step, and the page says why
        run = archive.repo.get_evaluation(evaluation)
        archive.repo.record_llm_call(model="scripted", run_id=run.run_id, node_id=run.node_id,
                                     evaluation_id=evaluation, purpose="solve", prompt_tokens=5,
                                     completion_tokens=5, cost_usd=0.0)
        page = client.get(f"/evaluations/{evaluation}")
        assert "recorded 2 answered model calls for 1 steps" in page.text
        assert _cells(page.text)[0][6:] == ["-", "-"]
        # other logs have no timing table
        assert 'id="timing"' not in client.get(f"/evaluations/{evaluation}?name=test_output.txt").text
