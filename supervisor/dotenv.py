"""What the environment means to nija: where credential variables come from, how they are
named and held, and the systemd/XDG conventions for default directories.

Sources besides the process environment: `.env` files (what existing deployments use) and
systemd credential directories (`LoadCredential=`). Account credentials follow the existing
convention `KRAKEN_MASTER_API_KEY` / `KRAKEN_USER_<NAME>_API_KEY` (and `..._API_SECRET`).

Deliberately small: no variable expansion, no escapes, no multi-line values. Errors name the
file (and line) but never echo content, because the content is usually a secret.
"""

from __future__ import annotations

import base64
import hmac
import os
import pwd
import re
from collections.abc import Callable, Mapping
from pathlib import Path

_LINE = re.compile(
    r"""^(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*
        (?:'(?P<single>[^']*)'|"(?P<double>[^"]*)"|(?P<bare>[^'"\s\#]\S*(?:[ \t]+[^\s\#]\S*)*)?)
        \s*(?:\#.*)?$""",
    re.VERBOSE,
)


class Secret:
    """A credential string that cannot leak by accident: repr, str and format show `***`,
    msgspec refuses to encode it, and only `.reveal()` returns the value. Picklable, so a
    spawned account process can receive its own credentials."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, format_spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))


class SourceError(ValueError):
    """A variable source cannot be read; the message names the file, never its content."""


class DotenvSyntaxError(SourceError):
    """A line of a `.env` file is not KEY=VALUE."""

    def __init__(self, path: str, lineno: int) -> None:
        super().__init__(f"{path}:{lineno}: malformed line (expected KEY=VALUE)")
        self.path = path
        self.lineno = lineno


def parse_dotenv(text: str, path: str = ".env") -> dict[str, str]:
    """Return the variables defined in `text`; a later definition of a key wins.

    Accepted: blank lines, `# comments`, an optional `export ` prefix, values bare (a trailing
    ` # comment` is dropped), 'single-quoted' or "double-quoted" (taken literally).
    """
    result: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise DotenvSyntaxError(path, lineno)
        value = next((v for v in match.group("single", "double", "bare") if v is not None), "")
        result[match["key"]] = value
    return result


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise SourceError(f"{path}: cannot read: {err.strerror or type(err).__name__}") from None
    except UnicodeDecodeError:
        raise SourceError(f"{path}: not UTF-8 text") from None


def read_dotenv(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read and parse a `.env` file."""
    return parse_dotenv(_read_text(Path(path)), os.fspath(path))


def read_credentials_directory(directory: str, wanted: Callable[[str], bool]) -> dict[str, str]:
    """Read systemd credentials: one file per variable, named like the variable. Only names
    for which `wanted` is true are read; a trailing newline is not part of the value."""
    try:
        entries = sorted(Path(directory).iterdir())
    except OSError as err:
        raise SourceError(f"CREDENTIALS_DIRECTORY={directory}: cannot list: "
                          f"{err.strerror or type(err).__name__}") from None
    return {entry.name: _read_text(entry).rstrip("\r\n")
            for entry in entries if wanted(entry.name) and entry.is_file()}


MASTER = "master"
_NAME = re.compile(r"[a-z0-9_-]{1,32}")
_MASTER_VAR = re.compile(r"KRAKEN_MASTER_API_(?:KEY|SECRET)")
_USER_VAR = re.compile(r"KRAKEN_USER_(?P<name>.+)_API_(?:KEY|SECRET)")


def credential_variables(name: str) -> tuple[str, str]:
    """The (API key, API secret) variable names for account `name`, as deployments set them."""
    if name == MASTER:
        return "KRAKEN_MASTER_API_KEY", "KRAKEN_MASTER_API_SECRET"
    return f"KRAKEN_USER_{name.upper()}_API_KEY", f"KRAKEN_USER_{name.upper()}_API_SECRET"


def is_credential_variable(name: str) -> bool:
    return bool(_MASTER_VAR.fullmatch(name) or _USER_VAR.fullmatch(name))


def gather_variables(environ: Mapping[str, str], dotenv_path: str | os.PathLike[str] | None,
                     ) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Merge variable sources, lowest precedence first: `.env` (`dotenv_path`, or `./.env` if
    it exists), the systemd credentials directory, the real environment. A variable set but
    empty in a higher source still masks a lower one. Returns the variables, the origin of
    each, and the sources used."""
    layers: list[tuple[str, Mapping[str, str]]] = []
    dotenv = Path(".env" if dotenv_path is None else dotenv_path)
    if dotenv_path is not None or dotenv.is_file():
        layers.append((f".env file {os.path.abspath(dotenv)}", read_dotenv(dotenv)))
    if directory := environ.get("CREDENTIALS_DIRECTORY"):
        layers.append((f"credentials directory {directory}",
                       read_credentials_directory(directory, is_credential_variable)))
    layers.append(("environment", environ))
    variables: dict[str, str] = {}
    origin: dict[str, str] = {}
    for label, values in layers:
        variables.update(values)
        origin.update(dict.fromkeys(values, label))
    return variables, origin, [label for label, _ in layers]


def credential_accounts(variables: Mapping[str, str]) -> list[str]:
    """Names of accounts with at least one non-empty credential variable, master first."""
    names: set[str] = set()
    for var, value in variables.items():
        if not value.strip():
            continue
        if _MASTER_VAR.fullmatch(var):
            names.add(MASTER)
        elif match := _USER_VAR.fullmatch(var):
            name = match["name"].lower()
            if match["name"] != name.upper() or not _NAME.fullmatch(name):
                raise SourceError(f"{var}: the account part of the name must be 1-32 "
                                  "upper-case characters of A-Z, 0-9, '_' or '-'")
            if name == MASTER:
                raise SourceError(f"{var}: the master account uses "
                                  f"{' / '.join(credential_variables(MASTER))}")
            names.add(name)
    return sorted(names, key=lambda name: (name != MASTER, name))


def credential_pair(name: str, variables: Mapping[str, str], origin: Mapping[str, str],
                    ) -> tuple[Secret, Secret, str] | None:
    """(key, secret, origin) for account `name`, None if neither variable is set. Values are
    stripped; empty counts as unset; half a pair or a secret that is not base64 (Kraken
    secrets are) is an error naming the variable."""
    key_var, secret_var = credential_variables(name)
    key, secret = variables.get(key_var, "").strip(), variables.get(secret_var, "").strip()
    if not (key or secret):
        return None
    if not secret:
        raise SourceError(f"{secret_var} is not set but {key_var} is (from {origin[key_var]})")
    if not key:
        raise SourceError(f"{key_var} is not set but {secret_var} is (from {origin[secret_var]})")
    try:
        decodes = len(base64.b64decode(secret, validate=True)) > 0
    except ValueError:  # binascii.Error, or non-ASCII characters
        decodes = False
    if not decodes:
        raise SourceError(f"{secret_var} (from {origin[secret_var]}) is not valid base64; "
                          "Kraken API secrets are base64-encoded")
    sources = " + ".join(dict.fromkeys((origin[key_var], origin[secret_var])))
    return Secret(key), Secret(secret), sources


def default_directory(field: str, env: Mapping[str, str]) -> tuple[str, str]:
    """Default `state_dir` or `runtime_dir`, and the name of the variable it came from:
    systemd's per-service directory (first of a colon-separated list), else the XDG base
    directory (ignored unless absolute, as the XDG spec says), else a per-user fallback."""
    if field == "state_dir":
        systemd, xdg = "STATE_DIRECTORY", "XDG_STATE_HOME"
        home = env.get("HOME", "").strip() or pwd.getpwuid(os.getuid()).pw_dir
        fallback = os.path.join(home, ".local", "state", "nija")
    else:
        systemd, xdg, fallback = "RUNTIME_DIRECTORY", "XDG_RUNTIME_DIR", f"/tmp/nija-{os.getuid()}"
    if first := env.get(systemd, "").split(":")[0].strip():
        return first, systemd
    if (base := env.get(xdg, "").strip()) and os.path.isabs(base):
        return os.path.join(base, "nija"), xdg
    return fallback, "built-in default"


def default_state_dir(environ: Mapping[str, str]) -> str:
    """state_dir when neither the config file, NIJA_STATE_DIR nor the CLI sets it."""
    return default_directory("state_dir", environ)[0]


def default_runtime_dir(environ: Mapping[str, str]) -> str:
    """runtime_dir when neither the config file, NIJA_RUNTIME_DIR nor the CLI sets it."""
    return default_directory("runtime_dir", environ)[0]
