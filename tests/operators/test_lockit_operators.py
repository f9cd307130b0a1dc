"""LockitOperator and LockitMatchClipsOperator, executed in-process against the sandbox."""

from __future__ import annotations

import csv
import json
import time
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from lockit_provider.common.clip_names import clip_names
from lockit_provider.exceptions import (
    LockitApiError,
    LockitConfigError,
    LockitReauthorizationRequired,
)
from lockit_provider.operators.lockit import (
    LockitMatchClipsOperator,
    LockitOperator,
    LockitResponseCheckFailed,
    LockitUnmatchedClips,
)
from lockit_provider.sandbox import data
from lockit_provider.triggers.lockit import LockitRequestTrigger
from tests.support.connections import use_sandbox
from tests.support.counts import issued_tokens

DAY_1_CLIPS = list(data.TAKES[data.SERIES_DAY_IDS[0]])


@pytest.fixture(autouse=True)
def _sandbox_connection(monkeypatch, sandbox, tmp_path):
    monkeypatch.delenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", raising=False)
    use_sandbox(monkeypatch, sandbox, tmp_path)


def context(**values: Any) -> dict[str, Any]:
    return {"params": {}, **values}


def operator(**kwargs: Any) -> LockitOperator:
    return LockitOperator(task_id="call", **{"endpoint": "/projects", "deferrable": False, **kwargs})


def test_construction_makes_no_call_and_builds_no_hook(sandbox):
    op = operator()
    assert "hook" not in op.__dict__
    assert sandbox.stats()["api_requests"] == {}


def test_result_goes_to_xcom(sandbox):
    assert [p["name"] for p in operator().execute(context())] == [p["name"] for p in data.PROJECTS]


def test_response_filter_and_check_see_the_body_and_the_context():
    op = operator(
        response_check=lambda body: len(body) == 3,
        response_filter=lambda body, params: [p["uuid"] for p in body if p["isPremium"] == params["premium"]],
    )
    assert op.execute(context(params={"premium": False})) == [data.NON_PREMIUM_ID]


def test_a_failed_response_check_fails_the_task_and_retries_apply():
    with pytest.raises(
        LockitResponseCheckFailed, match="response_check rejected the answer to GET /projects"
    ):
        operator(response_check=lambda body: False).execute(context())


def test_response_check_and_filter_may_ask_for_status_and_headers():
    seen: dict[str, Any] = {}

    def check(body, status_code, headers):
        seen.update(status=status_code, headers=headers)
        return status_code == 200

    result = operator(
        response_check=check, response_filter=lambda body, headers: headers["content-type"]
    ).execute(context())
    assert result.startswith("application/json")
    assert seen["status"] == 200
    assert "authorization" not in seen["headers"] and "set-cookie" not in seen["headers"]


def test_log_response_logs_an_excerpt_of_the_body(capsys):
    operator().execute(context())
    assert "response body" not in capsys.readouterr().out
    operator(log_response=True).execute(context())
    assert "LockitNetwork response body: [" in capsys.readouterr().out


def test_query_body_and_method_reach_the_api():
    op = operator(
        method="POST",
        endpoint=f"/projects/{data.SERIES_ID}/projectdays/{data.SERIES_DAY_IDS[0]}/matchClips",
        body={"clips": DAY_1_CLIPS[:2]},
        query={"verbose": "1"},
        headers={"X-Request-Id": "abc"},
    )
    assert [m["clip"] for m in op.execute(context())] == DAY_1_CLIPS[:2]


def test_a_403_for_a_non_premium_project_fails_at_once_with_the_status():
    with pytest.raises(AirflowFailException, match=r"LockitApiError: .* HTTP 403") as info:
        operator(endpoint=f"/projects/{data.NON_PREMIUM_ID}/projectdays").execute(context())
    assert isinstance(info.value.__cause__, LockitApiError)
    assert info.value.__cause__.status == 403


def test_a_transient_error_is_raised_as_it_is_so_retries_apply(sandbox, monkeypatch, tmp_path):
    use_sandbox(monkeypatch, sandbox, tmp_path, max_retries=0)
    sandbox.add_fault("api", status=503)
    with pytest.raises(LockitApiError) as info:
        operator().execute(context())
    assert info.value.status == 503


def test_a_dead_grant_fails_at_once_naming_the_command(sandbox, monkeypatch, tmp_path):
    use_sandbox(monkeypatch, sandbox, tmp_path, expires_at=time.time() - 1, refresh_token="")
    with pytest.raises(AirflowFailException, match="LockitReauthorizationRequired") as info:
        operator().execute(context())
    assert isinstance(info.value.__cause__, LockitReauthorizationRequired)
    assert "airflow lockit authorize" in str(info.value)


def test_a_configuration_error_fails_at_once():
    with pytest.raises(AirflowFailException, match="LockitConfigError: Project 'Nope'") as info:
        match_operator(project="Nope", clips=DAY_1_CLIPS).execute(context())
    assert info.value.__cause__.field == "project"


def test_results_too_big_for_xcom_are_refused_at_once_with_the_way_out():
    with pytest.raises(AirflowFailException, match=r"max_xcom_bytes=200.*output_path"):
        operator(max_xcom_bytes=200).execute(context())
    assert operator(max_xcom_bytes=200, do_xcom_push=False).execute(context())


@pytest.mark.parametrize("as_url", [False, True])
def test_large_results_stream_to_a_file_or_object_storage(tmp_path, as_url):
    target = tmp_path / "out" / "projects.json"
    path = f"file://{target}" if as_url else str(target)
    if as_url:
        target.parent.mkdir()
    assert operator(output_path=path, max_xcom_bytes=10).execute(context()) == path
    assert [p["uuid"] for p in json.loads(target.read_bytes())] == [p["uuid"] for p in data.PROJECTS]


def test_output_path_refuses_a_filter():
    with pytest.raises(ValueError, match="output_path"):
        operator(output_path="/tmp/x.json", response_filter=lambda body: body)


def test_deferrable_defers_the_call_with_a_token_free_trigger(sandbox):
    op = operator(deferrable=True, query={"a": "1"})
    with pytest.raises(TaskDeferred) as info:
        op.execute(context())
    trigger = info.value.trigger
    assert isinstance(trigger, LockitRequestTrigger)
    assert info.value.method_name == "execute_complete"
    text = json.dumps(trigger.serialize()[1])
    assert '"endpoint": "/projects"' in text
    assert not any(token in text for token in issued_tokens(sandbox))
    assert sandbox.stats()["api_requests"] == {}  # the call is the trigger's


def test_deferrable_defaults_to_the_airflow_setting(monkeypatch):
    assert LockitOperator(task_id="a", endpoint="/x").deferrable is False
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    assert LockitOperator(task_id="b", endpoint="/x").deferrable is True
    assert LockitOperator(task_id="c", endpoint="/x", deferrable=False).deferrable is False


def test_execute_complete_finishes_like_execute():
    op = operator(deferrable=True, response_filter=lambda body: [p["name"] for p in body])
    body = [{"name": "A"}, {"name": "B"}]
    assert op.execute_complete(context(), {"status": "success", "body": body}) == ["A", "B"]


def test_execute_complete_gives_the_check_the_status_and_headers_of_the_trigger():
    op = operator(deferrable=True, response_check=lambda body, status_code, headers: headers["x-n"] == "2")
    event = {"status": "success", "body": [], "http_status": 200, "headers": {"x-n": "2"}}
    assert op.execute_complete(context(), event) == []


def test_execute_complete_fails_at_once_on_an_error_retrying_cannot_fix():
    event = {"status": "error", "error_type": "LockitApiError", "message": "HTTP 403 ...", "http_status": 403}
    with pytest.raises(AirflowFailException, match="HTTP 403"):
        operator(deferrable=True).execute_complete(context(), event)


def test_execute_complete_turns_an_error_event_into_a_clear_failure():
    event = {"status": "error", "error_type": "LockitApiError", "message": "HTTP 503 ...", "http_status": 503}
    with pytest.raises(LockitApiError) as info:
        operator(deferrable=True).execute_complete(context(), event)
    assert info.value.status == 503
    assert "The trigger failed: HTTP 503" in str(info.value)


def test_templated_fields_render():
    op = operator(endpoint="/projects/{{ params.project }}/projectdays", query={"day": "{{ params.day }}"})
    op.render_template_fields(context(params={"project": data.SERIES_ID, "day": "1"}))
    assert op.endpoint == f"/projects/{data.SERIES_ID}/projectdays"
    assert op.query == {"day": "1"}


def match_operator(**kwargs: Any) -> LockitMatchClipsOperator:
    defaults = {"project": "Northern Lights", "shooting_day": "2026-05-12"}
    return LockitMatchClipsOperator(task_id="match", **{**defaults, **kwargs})


def test_match_clips_reports_unmatched_clips_and_writes_the_csv(tmp_path, capsys):
    csv_path = tmp_path / "editorial" / "day1.csv"
    result = match_operator(clips=[*DAY_1_CLIPS, "Z999_C001_0512ZZ.R3D"], csv_path=str(csv_path)).execute(
        context()
    )
    assert (result["project_id"], result["day_id"]) == (data.SERIES_ID, data.SERIES_DAY_IDS[0])
    assert [m["clip"] for m in result["matched"]] == DAY_1_CLIPS
    assert result["unmatched"] == ["Z999_C001_0512ZZ.R3D"]
    assert "1 clips have no take metadata yet: Z999_C001_0512ZZ.R3D" in capsys.readouterr().out
    rows = list(csv.DictReader(csv_path.read_text().splitlines()))
    assert rows[1] == {
        "Clip Name": "A001_C002_0512AB.R3D",
        "Episode": "1",
        "Scene": "1",
        "Shot": "1",
        "Take": "2",
        "Camera": "A",
        "Circled": "Yes",
        "Comments": "Best performance",
    }
    assert len(rows) == 4


def test_match_clips_can_fail_on_unmatched_after_writing_the_csv(tmp_path):
    csv_path = tmp_path / "day.csv"
    op = match_operator(
        clips=["A001_C001_0512AB.R3D", "NOPE.R3D"], csv_path=str(csv_path), fail_on_unmatched=True
    )
    # Retries apply: the script supervisor's iPad may sync the missing take later.
    with pytest.raises(LockitUnmatchedClips, match=r"1 of 2 clips did not match: NOPE\.R3D") as info:
        op.execute(context())
    assert info.value.unmatched == ["NOPE.R3D"]
    assert "A001_C001_0512AB.R3D" in csv_path.read_text()


def test_match_clips_by_ids_for_a_film_scene_label_and_no_episode(tmp_path):
    csv_path = tmp_path / "film.csv"
    op = match_operator(
        project=data.FILM_ID,
        shooting_day=data.FILM_DAY_IDS[1],
        clips="A002C005_260602_R1QH.mxf",
        csv_path=csv_path,
    )
    assert op.execute(context())["matched"][0]["episode"] is None
    row = next(csv.DictReader(csv_path.read_text().splitlines()))
    assert (row["Episode"], row["Scene"], row["Comments"]) == ("", "11", "Rain machine")


def test_match_clips_from_a_rendered_upstream_xcom_and_a_file(tmp_path):
    listing = tmp_path / "card_A001.txt"
    listing.write_text("# card A001\nA001_C001_0512AB.R3D\n\nA001_C003_0512AB.R3D  # circled\n")
    op = match_operator(clips="{{ ti_clips }}", clips_file=str(listing))
    op.render_template_fields(context(ti_clips=["B001_C001_0512CD.R3D", "A001_C001_0512AB.R3D"]))
    result = op.execute(context())
    assert [m["clip"] for m in result["matched"]] == [
        "B001_C001_0512CD.R3D",
        "A001_C001_0512AB.R3D",
        "A001_C003_0512AB.R3D",
    ]


@pytest.mark.parametrize(
    ("clips", "expected"),
    [
        (["a.R3D", "b.R3D", "a.R3D"], ["a.R3D", "b.R3D"]),
        ("['a.R3D', 'b.R3D']", ["a.R3D", "b.R3D"]),
        ('["a.R3D"]', ["a.R3D"]),
        ("a.R3D, b.R3D\nc.R3D", ["a.R3D", "b.R3D", "c.R3D"]),
    ],
)
def test_clip_names_accept_lists_and_text(clips, expected):
    assert clip_names(clips) == expected


@pytest.mark.parametrize("clips", [None, "", [], "[1, 2]", {"a": 1}, "[unclosed"])
def test_clip_names_refuse_nothing_or_garbage(clips):
    with pytest.raises(LockitConfigError) as info:
        clip_names(clips)
    assert info.value.field == "clips"
