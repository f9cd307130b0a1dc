"""Check what ``make dist`` built: the wheel and sdist carry the example DAGs, the license and typing.

Usage: ``python .ci/check_dist.py dist/`` (after ``python -m build`` and ``twine check``). Compares
with the source tree, so an example DAG added later cannot be left out of the distributions.
"""

from __future__ import annotations

import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(dist: Path) -> int:
    """Check the one wheel and one sdist in ``dist``; print what was checked; return the exit code."""
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    examples = sorted(
        path.relative_to(ROOT).as_posix() for path in (ROOT / "lockit_provider" / "example_dags").glob("*.py")
    )
    dag_files = [name for name in examples if not name.endswith("__init__.py")]
    if not dag_files:
        raise SystemExit("lockit_provider/example_dags/ holds no example DAG")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = Parser().parsestr(
            archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        )
        entry_points = archive.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt")))
    problems = [
        f"wheel lacks {name}" for name in [*examples, "lockit_provider/py.typed"] if name not in names
    ]
    if not any(name.endswith(".dist-info/licenses/LICENSE") for name in names):
        problems.append("wheel lacks the LICENSE file")
    if metadata["License-Expression"] != "Apache-2.0":
        problems.append(f"License-Expression is {metadata['License-Expression']!r}, not 'Apache-2.0'")
    if b"apache_airflow_provider" not in entry_points:
        problems.append("wheel lacks the apache_airflow_provider entry point")
    with tarfile.open(sdist) as archive:
        sdist_names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    problems += [f"sdist lacks {name}" for name in [*examples, "LICENSE"] if name not in sdist_names]
    for problem in problems:
        print(f"check_dist: {problem}", file=sys.stderr)
    if not problems:
        print(
            f"check_dist: {wheel.name} and {sdist.name} carry {len(dag_files)} example DAGs, py.typed, "
            "LICENSE (License-Expression: Apache-2.0) and the provider entry point"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "dist")))
