"""The LockitNetwork API of the sandbox: shapes, auth, premium gating and clip matching."""

from __future__ import annotations

import re

import pytest

from lockit_provider.sandbox import data

pytestmark = pytest.mark.timeout(30)

HEX_ID = re.compile(r"^[0-9a-f]{32}$")
PROJECT = {
    "uuid": str,
    "name": str,
    "isSeries": bool,
    "isPremium": bool,
    "productionCompany": str,
    "created": int,
}
PROJECTDAY = {
    "uuid": str,
    "project": str,
    "day": int,
    "prefix": str,
    "suffix": str,
    "date": dict,
    "unit": str,
    "episodeBlock": (str, type(None)),
}
EPISODE = {"uuid": str, "episodeNumber": int, "episodeName": str, "scheduledRunningTime": int, "created": int}
SCENE = {
    "uuid": str,
    "episode": (str, type(None)),
    "number": int,
    "additional": str,
    "content": str,
    "comment": str,
    "dayNight": str,
    "inOut": str,
    "sets": list,
    "motherScene": (str, type(None)),
}
MATCH = {
    "clip": str,
    "episode": (dict, type(None)),
    "scene": dict,
    "shot": str,
    "take": int,
    "camera": str,
    "circled": bool,
    "comment": str,
}
SERIES = data.SERIES_ID
DAY1 = data.SERIES_DAY_IDS[0]


def assert_shape(obj, shape):
    assert set(obj) == set(shape), f"fields differ: {sorted(obj)}"
    for name, kind in shape.items():
        assert isinstance(obj[name], kind), f"{name}={obj[name]!r} is not {kind}"
    for name in ("uuid", "project", "motherScene"):
        if isinstance(obj.get(name), str):
            assert HEX_ID.match(obj[name]), f"{name} is not a 32-hex id"


@pytest.fixture
def token(client):
    return client.tokens()["access_token"]


def get_json(client, token, path):
    response = client.api(path, token)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    return response.json()


def test_projects_is_a_bare_array_of_projects(client, token):
    projects = get_json(client, token, "/projects")
    assert isinstance(projects, list)
    assert [p["uuid"] for p in projects] == [data.SERIES_ID, data.FILM_ID, data.NON_PREMIUM_ID]
    for project in projects:
        assert_shape(project, PROJECT)
    assert [p["isPremium"] for p in projects] == [True, True, False]


def test_projectdays(client, token):
    days = get_json(client, token, f"/projects/{SERIES}/projectdays")
    assert [d["uuid"] for d in days] == list(data.SERIES_DAY_IDS)
    for day in days:
        assert_shape(day, PROJECTDAY)
        assert day["project"] == SERIES
        assert set(day["date"]) == {"year", "month", "day"} and day["date"]["year"] == 2026


def test_episodes_and_scenes(client, token):
    episodes = get_json(client, token, f"/projects/{SERIES}/episodes")
    assert [e["uuid"] for e in episodes] == [data.EPISODE_1_ID, data.EPISODE_2_ID]
    for episode in episodes:
        assert_shape(episode, EPISODE)
    assert get_json(client, token, f"/projects/{SERIES}/episodes/{data.EPISODE_1_ID}") == episodes[0]
    scenes = get_json(client, token, f"/projects/{SERIES}/episodes/{data.EPISODE_1_ID}/scenes")
    assert len(scenes) == 3
    for scene in scenes:
        assert_shape(scene, SCENE)
        assert scene["episode"] == data.EPISODE_1_ID
    assert get_json(client, token, f"/projects/{SERIES}/scenes/{data.SCENE_1_2A_ID}") == scenes[2]
    assert scenes[2]["motherScene"] == data.SCENE_1_2_ID


def test_feature_film_has_no_episodes_and_null_scene_episode(client, token):
    assert get_json(client, token, f"/projects/{data.FILM_ID}/episodes") == []
    scene = get_json(client, token, f"/projects/{data.FILM_ID}/scenes/{data.FILM_SCENE_10_ID}")
    assert_shape(scene, SCENE)
    assert scene["episode"] is None


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/projectdays"),
        ("GET", "/episodes"),
        ("GET", f"/episodes/{data.EPISODE_1_ID}"),
        ("GET", f"/scenes/{data.SCENE_1_1_ID}"),
        ("POST", f"/projectdays/{DAY1}/matchClips"),
    ],
)
def test_non_premium_project_is_403(client, token, method, path):
    response = client.api(f"/projects/{data.NON_PREMIUM_ID}{path}", token, method=method, json={"clips": []})
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


@pytest.mark.parametrize(
    "path",
    [
        f"/projects/{'0' * 32}/projectdays",
        f"/projects/{SERIES}/episodes/{'0' * 32}",
        f"/projects/{SERIES}/episodes/{'0' * 32}/scenes",
        f"/projects/{SERIES}/scenes/{data.FILM_SCENE_10_ID}",  # a scene of another project
        "/nowhere",
    ],
)
def test_unknown_ids_are_404(client, token, path):
    response = client.api(path, token)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_match_clips_returns_only_the_matches(client, token):
    clips = ["A001_C003_0512AB.R3D", "Z999_C999_0101ZZ.R3D", "A001_C002_0512AB.R3D"]
    response = client.api(
        f"/projects/{SERIES}/projectdays/{DAY1}/matchClips", token, method="POST", json={"clips": clips}
    )
    assert response.status_code == 200
    matches = response.json()
    assert [m["clip"] for m in matches] == ["A001_C003_0512AB.R3D", "A001_C002_0512AB.R3D"]
    for match in matches:
        assert_shape(match, MATCH)
        assert_shape(match["episode"], EPISODE)
        assert_shape(match["scene"], SCENE)
    assert (
        matches[0]["scene"]["uuid"] == data.SCENE_1_2_ID
        and matches[0]["episode"]["uuid"] == data.EPISODE_1_ID
    )
    assert matches[1]["circled"] is True and matches[1]["take"] == 2


def test_match_clips_accepts_a_bare_array_and_films_have_no_episode(client, token):
    path = f"/projects/{data.FILM_ID}/projectdays/{data.FILM_DAY_IDS[0]}/matchClips"
    matches = client.api(path, token, method="POST", json=["A001C001_260601_R1QH.mxf"]).json()
    assert len(matches) == 1
    assert matches[0]["episode"] is None
    assert matches[0]["scene"]["uuid"] == data.FILM_SCENE_10_ID


def test_match_clips_is_per_day(client, token):
    # B002_C011 was shot on day 2, so day 1 does not know it.
    path = f"/projects/{SERIES}/projectdays/{{}}/matchClips"
    body = {"clips": ["B002_C011_0513CD.R3D"]}
    assert client.api(path.format(DAY1), token, method="POST", json=body).json() == []
    assert len(client.api(path.format(data.SERIES_DAY_IDS[1]), token, method="POST", json=body).json()) == 1


@pytest.mark.parametrize(
    "body", [b"not json", b'{"clips": "A001.R3D"}', b'{"clips": [1, 2]}', b'{"names": []}']
)
def test_match_clips_rejects_a_bad_body(client, token, body):
    path = f"/projects/{SERIES}/projectdays/{DAY1}/matchClips"
    response = client.api(path, token, method="POST", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "clips" in response.json()["error_description"]


def test_clips_appear_after_the_requested_delay(sandbox_clock, client, token):
    clip = "C007_C001_0514EF.R3D"
    path = f"/projects/{SERIES}/projectdays/{data.SERIES_DAY_IDS[2]}/matchClips"
    control = {"project": SERIES, "day": data.SERIES_DAY_IDS[2], "clips": [clip], "after": 0.5}
    assert client.http.post(client.sandbox.url + "/_sandbox/clips", json=control).status_code == 200
    assert client.api(path, token, method="POST", json={"clips": [clip]}).json() == []
    sandbox_clock.advance(0.6)
    matches = client.api(path, token, method="POST", json={"clips": [clip]}).json()
    assert [m["clip"] for m in matches] == [clip]
    assert_shape(matches[0], MATCH)
    assert matches[0]["camera"] == "C"


def test_clips_for_an_unknown_day_are_refused(client):
    control = {"project": SERIES, "day": data.FILM_DAY_IDS[0], "clips": ["X.R3D"]}
    assert client.http.post(client.sandbox.url + "/_sandbox/clips", json=control).status_code == 404


@pytest.mark.parametrize("token_value", [None, "not-a-token-at-all-but-long-enough"])
def test_missing_or_unknown_token_is_401(client, token_value):
    response = client.api("/projects", token_value)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_query_string_token_works_but_is_counted(client, token):
    assert client.api("/projects", token).status_code == 200
    assert client.sandbox.stats()["query_token_requests"] == 0
    response = client.http.get(f"{client.sandbox.url}/projects", params={"token": token})
    assert response.status_code == 200
    assert client.sandbox.stats()["query_token_requests"] == 1


def test_ids_are_derived_from_names():
    assert data.make_id("project", "Northern Lights") == data.SERIES_ID
    assert all(
        HEX_ID.match(i) for i in (data.SERIES_ID, data.FILM_ID, *data.SERIES_DAY_IDS, data.SCENE_2_7_ID)
    )
