"""Evidence collector that runs ON a managed host, sent as ``python3 -c SCRIPT``.

This file is a resource, not a module the control plane imports: its text is
sent to each host once per scan. It reads one JSON request on stdin (which
items of evidence the controls need), gathers them all in one pass and prints
one JSON document on stdout.

Rules this script keeps, because it runs as root on every managed host:

* Python 3.11 standard library only (Debian 12's python3), nothing installed.
* No shell, ever: programs are started from fixed absolute directories with
  argv lists; request values are data (paths are read, never executed), and
  the only argv taken from the request is the catalog's ``command`` checks,
  whose program must be an absolute path.
* No secrets leave the host: of /etc/shadow only the *kind* of each password
  field (empty, locked, no login, hashed) is reported, never a hash.
* One failing item never spoils the rest: every section catches its own
  errors and reports them as data, so the evaluator can say "error" for just
  the controls that needed it.
"""

import glob
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import time

COLLECTOR_VERSION = 1
MAX_TEXT = 256 * 1024  # bytes of one file's text sent back (login.defs is ~12 KiB)
MAX_STDOUT = 64 * 1024
COMMAND_TIMEOUT = 20.0
SEARCH_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
LAB_MARKER = "/etc/egov-lab/host.json"
PRIVSEP_DIR = "/run/sshd"
GLOB_CHARS = re.compile(r"[*?\[]")
# Files whose content never leaves the host, whatever a (site) control asks
# for: password hashes and private keys. Their mode and owner are still sent.
SECRET_FILES = (
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/ssh/ssh_host_*_key",
    "/etc/ssl/private/*",
    "/root/.ssh/id_*",
    "/home/*/.ssh/id_*",
)
# crypt(3) hashes ($6$salt$hash, $y$..., $2b$...) are masked in any text sent back
HASH = re.compile(r"\$(?:1|2[abxy]?|5|6|7|y|gy|sha1|md5)\$[^\s:]{8,}")
MODPROBE_DIRS = ("/etc/modprobe.d", "/lib/modprobe.d", "/usr/lib/modprobe.d", "/run/modprobe.d")


def which(name):
    """Return the absolute path of a program in the fixed system directories, or None."""
    return shutil.which(name, path=SEARCH_PATH)


def run(argv, timeout=COMMAND_TIMEOUT):
    """Run an argv list (never a shell) and return exit code and output as a dict."""
    try:
        proc = subprocess.run(  # noqa: S603 - argv list from fixed paths, no shell
            argv,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
            env={"PATH": SEARCH_PATH, "LC_ALL": "C"},
        )
    except FileNotFoundError:
        return {"exit_code": 127, "stdout": "", "stderr": f"{argv[0]}: not found"}
    except subprocess.TimeoutExpired:
        return {"exit_code": -1, "stdout": "", "stderr": f"timed out after {timeout:g} s"}
    except OSError as error:
        return {"exit_code": 126, "stdout": "", "stderr": str(error)}
    return {"exit_code": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr[-4000:]}


def read_text(path, limit=MAX_TEXT):
    """Return (text, truncated) of a file, decoded leniently."""
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    return data[:limit].decode("utf-8", errors="replace"), len(data) > limit


def is_secret(path):
    """Whether a path (after resolving symlinks) is a file whose content must not be sent."""
    import fnmatch

    real = os.path.realpath(path)
    if real.endswith(".pub"):
        return False
    return any(fnmatch.fnmatch(candidate, secret) for candidate in (path, real) for secret in SECRET_FILES)


def redact(text):
    """Text with every crypt(3) password hash masked."""
    return HASH.sub("[password hash redacted]", text)


def expand(pattern):
    """Return the sorted paths a path or glob names (a plain path is returned as is)."""
    if GLOB_CHARS.search(pattern):
        return sorted(glob.glob(pattern))
    return [pattern]


def host_facts():
    """Who this host is and what it can do: lab marker, shared kernel, systemd."""
    facts = {
        "hostname": socket.gethostname(),
        "euid": os.geteuid(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "time": time.time(),
        "systemd": os.path.isdir("/run/systemd/system"),
        "lab": os.path.exists(LAB_MARKER),
        "lab_info": None,
        # access() honours read-only mounts even for root: a lab host sees a
        # read-only /proc/sys (only net.* writable), a real server does not.
        "kernel_writable": os.access("/proc/sys/kernel/randomize_va_space", os.W_OK),
        "os_release": {},
    }
    if facts["lab"]:
        try:
            facts["lab_info"] = json.loads(read_text(LAB_MARKER)[0])
        except (OSError, ValueError) as error:
            facts["lab_info"] = {"error": str(error)}
    try:
        for line in read_text("/etc/os-release")[0].splitlines():
            key, sep, value = line.partition("=")
            if sep and key in ("ID", "VERSION_ID", "PRETTY_NAME", "VERSION_CODENAME"):
                facts["os_release"][key] = value.strip().strip('"')
    except OSError:
        pass
    return facts


def ensure_privsep_dir():
    """Create /run/sshd (root, 0755) when it is missing, as Debian's ssh.service does before ``sshd -t``.

    ``sshd -T`` refuses to print the configuration without its privilege
    separation directory, which lives on the /run tmpfs and exists only once
    an sshd has started since boot (systemd's ``RuntimeDirectory=sshd``). A
    host whose sshd never ran (a fresh install, socket activation, a
    container) would otherwise report every sshd control as an error.
    """
    if os.geteuid() != 0 or os.path.isdir(PRIVSEP_DIR):
        return
    try:
        os.mkdir(PRIVSEP_DIR, 0o755)
        os.chmod(PRIVSEP_DIR, 0o755)  # noqa: S103 - sshd wants exactly this: root-owned, not group/other writable
    except FileExistsError:
        pass
    except OSError:
        pass  # sshd -T then says why, and that is what the evidence reports


def collect_sshd(value):
    """The effective sshd configuration from ``sshd -T`` (drop-ins already merged).

    ``value`` is ``true`` (the default configuration) or ``{"config": PATH}``
    for a server started with ``-f PATH``; the path is passed as one argv word.
    """
    binary = which("sshd")
    if binary is None:
        return {"ok": False, "error": f"sshd not found in {SEARCH_PATH}"}
    argv = [binary, "-T"]
    if isinstance(value, dict) and isinstance(value.get("config"), str):
        argv += ["-f", value["config"]]
    ensure_privsep_dir()
    result = run(argv)
    if result["exit_code"] != 0:
        message = result["stderr"].strip() or result["stdout"].strip()
        return {"ok": False, "binary": binary, "error": f"sshd -T failed (exit {result['exit_code']}): {message}"}
    config = {}
    for line in result["stdout"].splitlines():
        key, _, value = line.strip().partition(" ")
        if key:
            config.setdefault(key.lower(), []).append(value.strip())
    return {"ok": True, "binary": binary, "config": config}


def collect_sysctl(keys):
    """Read each key from /proc/sys (None when the kernel does not have it)."""
    values = {}
    for key in keys:
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            values[key] = read_text(path, 4096)[0].strip()
        except OSError:
            values[key] = None
    return values


def stat_entry(path):
    """Mode, owner and type of one path (following symlinks)."""
    import grp
    import pwd
    import stat

    info = os.stat(path)
    try:
        owner = pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        owner = None
    try:
        group = grp.getgrgid(info.st_gid).gr_name
    except KeyError:
        group = None
    kind = "dir" if stat.S_ISDIR(info.st_mode) else "file" if stat.S_ISREG(info.st_mode) else "other"
    return {
        "path": path,
        "mode": format(stat.S_IMODE(info.st_mode), "04o"),
        "uid": info.st_uid,
        "gid": info.st_gid,
        "owner": owner,
        "group": group,
        "type": kind,
    }


def collect_files(patterns):
    """Stat every path or glob; a missing path is ``matches: []``."""
    files = {}
    for pattern in patterns:
        entry = {"matches": [], "error": None}
        for path in expand(pattern):
            try:
                entry["matches"].append(stat_entry(path))
            except FileNotFoundError:
                continue
            except OSError as error:
                entry["error"] = f"{path}: {error.strerror or error}"
        files[pattern] = entry
    return files


def collect_texts(patterns):
    """Text of every path or glob (for login.defs, pam, regex checks)."""
    texts = {}
    for pattern in patterns:
        entry = {"files": [], "error": None}
        for path in expand(pattern):
            if is_secret(path):
                entry["error"] = f"{path}: refused, secret file (its content never leaves the host)"
                continue
            try:
                text, truncated = read_text(path)
            except (FileNotFoundError, IsADirectoryError):
                continue
            except OSError as error:
                entry["error"] = f"{path}: {error.strerror or error}"
                continue
            entry["files"].append({"path": path, "text": redact(text), "truncated": truncated})
        texts[pattern] = entry
    return texts


def collect_packages(names):
    """Package states from dpkg's status database (read directly: no dpkg-query per package)."""
    wanted = set(names)
    found = {}
    with open("/var/lib/dpkg/status", encoding="utf-8", errors="replace") as handle:
        record = {}
        for line in [*handle, "\n"]:  # the final blank line ends the last record
            if line.strip():
                if not line[0].isspace():
                    key, _, value = line.partition(":")
                    record[key] = value.strip()
                continue
            name = record.get("Package")
            if name in wanted:
                status = record.get("Status", "")
                installed = status.endswith(" installed")
                # a multi-arch package appears once per architecture: installed wins
                if name not in found or installed:
                    found[name] = {"installed": installed, "status": status, "version": record.get("Version")}
            record = {}
    for name in wanted - set(found):
        found[name] = {"installed": False, "status": "not-installed", "version": None}
    return found


def running_processes():
    """Names (comm) of every process this host can see."""
    names = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                names.add(read_text(f"/proc/{entry}/comm", 256)[0].strip())
            except OSError:
                continue
    return sorted(names)


def collect_services(names):
    """Unit states from one ``systemctl show`` call, plus running process names.

    Lab hosts (and containers) have no systemd: that is reported as
    ``manager: none`` and only the process list is evidence.
    """
    evidence = {"manager": "none", "units": {}, "processes": running_processes(), "error": None}
    systemctl = which("systemctl")
    if not os.path.isdir("/run/systemd/system") or systemctl is None:
        return evidence
    evidence["manager"] = "systemd"
    units = [name if "." in name else name + ".service" for name in names]
    result = run([systemctl, "show", "--no-pager", "--property=Id,LoadState,ActiveState,UnitFileState", "--", *units])
    if result["exit_code"] != 0:
        evidence["error"] = result["stderr"].strip() or f"systemctl show exited {result['exit_code']}"
        return evidence
    blocks = [block for block in result["stdout"].split("\n\n") if block.strip()]
    for name, block in zip(names, blocks, strict=False):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        evidence["units"][name] = {
            "load": props.get("LoadState", ""),
            "active": props.get("ActiveState", ""),
            "enabled": props.get("UnitFileState", ""),
        }
    return evidence


def _ipv4(hex_address):
    return socket.inet_ntop(socket.AF_INET, bytes.fromhex(hex_address)[::-1])


def _ipv6(hex_address):
    raw = bytes.fromhex(hex_address)
    # /proc/net/tcp6 prints four 32-bit words, each in host (little-endian) order
    return socket.inet_ntop(socket.AF_INET6, b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4)))


def collect_listening():
    """TCP sockets in LISTEN state, from /proc/net (this host's own network namespace)."""
    sockets = set()
    for name, decode in (("tcp", _ipv4), ("tcp6", _ipv6)):
        try:
            lines = read_text(f"/proc/net/{name}", 4 * 1024 * 1024)[0].splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == "0A":  # 0A = TCP_LISTEN
                address, _, port = fields[1].partition(":")
                sockets.add((name, decode(address), int(port, 16)))
    return {"ok": True, "tcp": [{"proto": p, "address": a, "port": n} for p, a, n in sorted(sockets)]}


def password_kind(field):
    """Classify a shadow password field without revealing it."""
    if field == "":
        return "empty"
    if field.startswith("!"):
        return "locked"
    if field in ("*", "x") or field.startswith("*"):
        return "no_login"
    return "hashed"


def collect_accounts():
    """Accounts from /etc/passwd and the kind of each /etc/shadow password field."""
    evidence = {"passwd": [], "shadow": {}, "legacy_plus": [], "shadow_error": None}
    for line in read_text("/etc/passwd")[0].splitlines():
        if line.startswith(("+", "-")):
            evidence["legacy_plus"].append("/etc/passwd")
        fields = line.split(":")
        if len(fields) < 7 or not fields[0]:
            continue
        kind = "x" if fields[1] == "x" else ("empty" if fields[1] == "" else "other")
        try:
            uid, gid = int(fields[2]), int(fields[3])
        except ValueError:
            uid, gid = None, None
        evidence["passwd"].append(
            {"name": fields[0], "uid": uid, "gid": gid, "home": fields[5], "shell": fields[6], "password": kind}
        )
    try:
        for line in read_text("/etc/shadow")[0].splitlines():
            if line.startswith(("+", "-")):
                evidence["legacy_plus"].append("/etc/shadow")
            fields = line.split(":")
            if len(fields) >= 2 and fields[0]:
                evidence["shadow"][fields[0]] = password_kind(fields[1])
    except OSError as error:
        evidence["shadow_error"] = f"/etc/shadow: {error.strerror or error}"
    try:
        if any(line.startswith(("+", "-")) for line in read_text("/etc/group")[0].splitlines()):
            evidence["legacy_plus"].append("/etc/group")
    except OSError:
        pass
    evidence["legacy_plus"] = sorted(set(evidence["legacy_plus"]))
    return evidence


def collect_nft():
    """The nftables ruleset as JSON (``nft -j list ruleset``)."""
    binary = which("nft")
    if binary is None:
        return {"ok": False, "installed": False, "error": "nft not found (nftables is not installed)"}
    result = run([binary, "-j", "list", "ruleset"])
    if result["exit_code"] != 0:
        return {"ok": False, "installed": True, "error": result["stderr"].strip() or "nft failed"}
    try:
        return {"ok": True, "installed": True, "ruleset": json.loads(result["stdout"] or '{"nftables": []}')}
    except ValueError as error:
        return {"ok": False, "installed": True, "error": f"nft printed invalid JSON: {error}"}


def modprobe_rules():
    """Lines of every modprobe configuration file (for blacklist / install rules)."""
    lines = []
    for folder in MODPROBE_DIRS:
        for path in sorted(glob.glob(folder + "/*.conf")):
            try:
                lines += [(path, line.strip()) for line in read_text(path)[0].splitlines()]
            except OSError:
                continue
    return lines


def collect_modules(names):
    """For each module: loaded now, what ``modprobe -n -v`` would do, blacklisted."""
    try:
        loaded = {line.split()[0] for line in read_text("/proc/modules", 4 * 1024 * 1024)[0].splitlines() if line}
    except OSError:
        loaded = set()
    rules = modprobe_rules()
    modprobe = which("modprobe")
    modules = {}
    for name in names:
        kernel_name = name.replace("-", "_")
        spellings = {name, kernel_name, name.replace("_", "-")}
        entry = {
            "loaded": kernel_name in loaded,
            "blacklisted": any(line.split()[:2] in (["blacklist", s] for s in spellings) for _, line in rules),
            "install_rule": None,
            "modprobe": None,
        }
        for path, line in rules:
            words = line.split()
            if len(words) >= 3 and words[0] == "install" and words[1] in spellings:
                entry["install_rule"] = {"path": path, "command": " ".join(words[2:])}
        if modprobe is not None:
            result = run([modprobe, "-n", "-v", name])
            entry["modprobe"] = {
                "exit_code": result["exit_code"],
                "stdout": result["stdout"].strip()[:2000],
                "stderr": result["stderr"].strip()[:2000],
            }
        modules[name] = entry
    return modules


def unescape_mount(field):
    """Undo the octal escapes of /proc/mounts (``\\040`` is a space)."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def collect_mounts():
    """Every mount this host sees, from /proc/self/mounts."""
    mounts = []
    for line in read_text("/proc/self/mounts", 4 * 1024 * 1024)[0].splitlines():
        fields = line.split()
        if len(fields) >= 4:
            mounts.append(
                {
                    "device": unescape_mount(fields[0]),
                    "mountpoint": unescape_mount(fields[1]),
                    "fstype": fields[2],
                    "options": fields[3].split(","),
                }
            )
    return {"ok": True, "mounts": mounts}


def collect_commands(commands):
    """Run the catalog's last-resort ``command`` checks (absolute program, argv, no shell)."""
    results = {}
    for argv in commands:
        key = json.dumps(argv)
        if not (isinstance(argv, list) and argv and all(isinstance(w, str) for w in argv) and argv[0].startswith("/")):
            results[key] = {"exit_code": None, "stdout": "", "stderr": "refused: argv must start with an absolute path"}
            continue
        result = run(argv)
        results[key] = {
            "exit_code": result["exit_code"],
            "stdout": redact(result["stdout"][:MAX_STDOUT]),
            "stderr": redact(result["stderr"][:4000]),
        }
    return results


def collect_tls(ports):
    """The certificate each local TLS port serves (DER, base64: public data), fetched from 127.0.0.1.

    Not verified here: this host holds no trust to verify with; the control
    plane verifies it against its own CA. A port that refuses or speaks no
    TLS is reported as such.
    """
    import base64
    import ssl

    served = {}
    for port in ports:
        try:
            number = int(port)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # fetched only; the control plane verifies it
            with socket.create_connection(("127.0.0.1", number), timeout=5) as raw, context.wrap_socket(raw) as tls:
                der = tls.getpeercert(binary_form=True)
                served[str(port)] = {"ok": True, "der": base64.b64encode(der).decode("ascii"), "version": tls.version()}
        except (OSError, ValueError) as error:
            served[str(port)] = {"ok": False, "error": f"{type(error).__name__}: {error}"}
    return served


SECTIONS = {
    "sshd": collect_sshd,
    "sysctl": collect_sysctl,
    "files": collect_files,
    "texts": collect_texts,
    "packages": collect_packages,
    "services": collect_services,
    "listening": lambda value: collect_listening(),
    "accounts": lambda value: collect_accounts(),
    "nft": lambda value: collect_nft(),
    "modules": collect_modules,
    "mounts": lambda value: collect_mounts(),
    "commands": collect_commands,
    "tls": collect_tls,
}


def collect(request):
    """Gather every section the request names; a failing section becomes ``{"error": ...}``."""
    started = time.monotonic()
    evidence = {"collector_version": COLLECTOR_VERSION, "host": host_facts(), "errors": {}}
    for name, function in SECTIONS.items():
        value = request.get(name)
        if not value:
            continue
        try:
            evidence[name] = function(value)
        except Exception as error:  # one section's failure must not lose the others
            evidence["errors"][name] = f"{type(error).__name__}: {error}"
    evidence["duration"] = round(time.monotonic() - started, 4)
    return evidence


def main():
    """Read the request on stdin, print the evidence on stdout; exit 2 for a bad request."""
    try:
        request = json.loads(sys.stdin.read() or "{}")
        if not isinstance(request, dict):
            raise ValueError("the request must be a JSON object")
    except ValueError as error:
        sys.stdout.write(json.dumps({"collector_version": COLLECTOR_VERSION, "fatal": f"bad request: {error}"}))
        return 2
    sys.stdout.write(json.dumps(collect(request), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
