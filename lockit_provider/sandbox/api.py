"""The LockitNetwork API routes: projects, shooting days, clip matching, episodes and scenes."""

from __future__ import annotations

from collections.abc import Callable

from lockit_provider.sandbox import data
from lockit_provider.sandbox.clips import ClipBoard
from lockit_provider.sandbox.data import JsonObject, Take
from lockit_provider.sandbox.messages import Request, Response, error_response, json_response
from lockit_provider.sandbox.state import TokenState
from lockit_provider.sandbox.stats import Stats

Handler = Callable[[Request, list[str]], object]  # a Response or a JSON-ready value


def _not_found(what: str) -> Response:
    return error_response(404, "not_found", f"{what} not found.")


def _clip_names(payload: object) -> list[str] | None:
    """Return the clip names of a matchClips body (``{"clips": [...]}`` or a bare list), or None."""
    if isinstance(payload, dict):
        payload = payload.get("clips")
    if isinstance(payload, list) and all(isinstance(name, str) and name for name in payload):
        return payload
    return None


def _match_entry(take: Take) -> JsonObject:
    scene = data.SCENES_BY_ID[take.scene_id]
    return {
        "clip": take.clip,
        "episode": data.EPISODES_BY_ID.get(scene["episode"] or ""),
        "scene": scene,
        "shot": take.shot,
        "take": take.take,
        "camera": take.camera,
        "circled": take.circled,
        "comment": take.comment,
    }


def _project_refusal(project_id: str) -> Response | None:
    """Return the 404 or 403 answer for a missing or non-premium project, or None."""
    project = data.PROJECTS_BY_ID.get(project_id)
    if project is None:
        return _not_found("Project")
    if not project["isPremium"]:
        return error_response(403, "forbidden", "The Production Service is not active on this project.")
    return None


def _find(items: list[JsonObject], uuid: str) -> JsonObject | None:
    return next((item for item in items if item["uuid"] == uuid), None)


class LockitApi:
    """Authenticate API requests by bearer token and answer them from the seed data."""

    def __init__(self, state: TokenState, stats: Stats, clips: ClipBoard) -> None:
        self._state = state
        self._stats = stats
        self._clips = clips
        # (method, path pattern) -> handler; "*" matches one path segment, handed over in order.
        self._routes: dict[tuple[str, tuple[str, ...]], Handler] = {
            ("GET", ("projects",)): self._projects,
            ("GET", ("projects", "*", "projectdays")): self._project_days,
            ("POST", ("projects", "*", "projectdays", "*", "matchClips")): self._match_clips,
            ("GET", ("projects", "*", "episodes")): self._episodes,
            ("GET", ("projects", "*", "episodes", "*")): self._episode,
            ("GET", ("projects", "*", "episodes", "*", "scenes")): self._episode_scenes,
            ("GET", ("projects", "*", "scenes", "*")): self._scene,
        }

    def handle(self, request: Request) -> Response:
        """Check the access token, route the request and, for per-project paths, the project."""
        problem = self._token_problem(request)
        if problem is not None:
            challenge = f'Bearer realm="LockitNetwork", error="invalid_token", error_description="{problem}"'
            return error_response(401, "invalid_token", problem, {"WWW-Authenticate": challenge})
        route = self._route(request.method, [part for part in request.path.split("/") if part])
        if isinstance(route, Response):
            return route
        handler, args = route
        if args:  # every path with an id starts with the project id
            refusal = _project_refusal(args[0])
            if refusal is not None:
                return refusal
        result = handler(request, args)
        return result if isinstance(result, Response) else json_response(200, result)

    def _route(self, method: str, segments: list[str]) -> tuple[Handler, list[str]] | Response:
        allowed = []
        for (route_method, pattern), handler in self._routes.items():
            pairs = list(zip(pattern, segments, strict=False))
            if len(pattern) != len(segments) or any(p not in ("*", s) for p, s in pairs):
                continue
            if route_method == method:
                return handler, [s for p, s in pairs if p == "*"]
            allowed.append(route_method)
        if allowed:
            return error_response(
                405, "method_not_allowed", "Method not allowed.", {"Allow": ", ".join(allowed)}
            )
        return _not_found("Resource")

    def _token_problem(self, request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            # The real API also takes ?token=; counted so tests can prove clients never use it.
            token = (request.query_params().get("token") or [""])[0]
            if token:
                self._stats.count_query_token()
        if not token:
            return "No access token was sent."
        return self._state.access_token_problem(token.strip())

    def _projects(self, request: Request, args: list[str]) -> object:
        return data.PROJECTS

    def _project_days(self, request: Request, args: list[str]) -> object:
        return data.PROJECT_DAYS[args[0]]

    def _episodes(self, request: Request, args: list[str]) -> object:
        return data.EPISODES[args[0]]

    def _episode(self, request: Request, args: list[str]) -> object:
        return _find(data.EPISODES[args[0]], args[1]) or _not_found("Episode")

    def _episode_scenes(self, request: Request, args: list[str]) -> object:
        if _find(data.EPISODES[args[0]], args[1]) is None:
            return _not_found("Episode")
        return [scene for scene in data.SCENES[args[0]] if scene["episode"] == args[1]]

    def _scene(self, request: Request, args: list[str]) -> object:
        return _find(data.SCENES[args[0]], args[1]) or _not_found("Scene")

    def _match_clips(self, request: Request, args: list[str]) -> object:
        if _find(data.PROJECT_DAYS[args[0]], args[1]) is None:
            return _not_found("Projectday")
        try:
            names = _clip_names(request.json())
        except ValueError:
            names = None
        if names is None:
            return error_response(
                400,
                "invalid_request",
                'The body must be {"clips": ["<clip file name>", ...]} or a JSON array.',
            )
        return [_match_entry(take) for take in self._clips.match(args[1], names)]
