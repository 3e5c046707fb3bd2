"""Host health, run ON a managed host as ``python3 -I -c SCRIPT REQUEST``.

A resource, not a module the control plane imports: its text is sent to each
host in one SSH command per probe cycle, so one round trip gives load,
memory, disk use per mount, service states and the host's clock. Python 3
standard library only; no shell; every section catches its own errors.
REQUEST is JSON: {"services": [...], "manager": "auto"|"lab"|"systemd"}.
"""

import json
import os
import subprocess
import sys
import time

REAL_FS = {"ext2", "ext3", "ext4", "xfs", "btrfs", "zfs", "vfat", "f2fs", "overlay", "tmpfs", "jfs", "reiserfs"}
SKIP_PREFIXES = ("/proc", "/sys", "/dev", "/run/credentials")
LAB_DIR = "/etc/egov-lab"
LAB_PID_DIR = "/run/egov-lab"
SYSTEMCTL = "/usr/bin/systemctl"
TMPFS_WATCHED = ("/tmp", "/dev/shm")  # noqa: S108 - mount points measured, never written


def load():
    one, five, fifteen = os.getloadavg()
    return {"load1": one, "load5": five, "load15": fifteen, "cpus": os.cpu_count() or 1}


def memory():
    values = {}
    with open("/proc/meminfo", encoding="ascii") as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            values[key] = int(rest.split()[0]) * 1024
    total = values.get("MemTotal", 0)
    available = values.get("MemAvailable", values.get("MemFree", 0))
    return {"total_bytes": total, "available_bytes": available}


def disks():
    found = {}
    with open("/proc/mounts", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            fields = line.split()
            if len(fields) < 3:
                continue
            mount, kind = fields[1].replace("\\040", " "), fields[2]
            if kind not in REAL_FS or mount.startswith(SKIP_PREFIXES) or mount in found:
                continue
            if kind == "tmpfs" and mount not in TMPFS_WATCHED:
                continue
            try:
                stat = os.statvfs(mount)
            except OSError:
                continue
            total = stat.f_blocks * stat.f_frsize
            if total == 0:
                continue
            free = stat.f_bavail * stat.f_frsize
            found[mount] = {"total_bytes": total, "free_bytes": free}
    return found


def lab_service(name):
    # The lab's init writes /run/egov-lab/NAME.pid and removes it when the service exits.
    try:
        with open(f"{LAB_PID_DIR}/{name}.pid", encoding="ascii") as handle:
            pid = int(handle.read().strip())
    except (OSError, ValueError):
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            state = handle.read().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def systemd_service(name):
    try:
        # Units installed by the egov_service role are egov-NAME; others keep their own name.
        # `is-active` exits 0 when at least one of the units named is active.
        done = subprocess.run(  # noqa: S603 - fixed program, names are argv words
            [SYSTEMCTL, "is-active", "--quiet", f"egov-{name}.service", f"{name}.service"],
            capture_output=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.returncode == 0


def services(names, manager):
    if manager == "auto":
        manager = "lab" if os.path.isdir(LAB_DIR) else "systemd"
    check = lab_service if manager == "lab" else systemd_service
    return {name: check(name) for name in names}


def main():
    request = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    answer = {"time": time.time()}
    for key, function, args in (
        ("load", load, ()),
        ("memory", memory, ()),
        ("disks", disks, ()),
        ("services", services, (request.get("services") or [], request.get("manager", "auto"))),
    ):
        try:
            answer[key] = function(*args)
        except Exception as error:
            answer[key + "_error"] = str(error)[:200]
    answer["time_end"] = time.time()
    sys.stdout.write(json.dumps(answer))


main()
