"""Reading the system: which process is a host's init, links, mounts."""

from __future__ import annotations

import os
from pathlib import Path

from controlplane.lab import network, probe

INIT = ("/venv/bin/python", "-I", "-m", "controlplane.lab.init", "/lab/hosts/mn-db-1/init.json")


def test_the_init_is_told_apart_from_its_launcher() -> None:
    launcher = tuple(network.launcher("egovlab-mn-db-1", INIT[0], Path(INIT[-1]))[4:])  # after `ip netns exec NS`
    assert launcher[-5:] == INIT
    assert probe.Process(pid=10, net_inode=1, argv=INIT).is_lab_init
    assert not probe.Process(pid=9, net_inode=1, argv=launcher).is_lab_init
    assert not probe.Process(pid=8, net_inode=1, argv=("python", "-m", "controlplane.lab.init", "x")).is_lab_init


def test_snapshot_finds_the_init_of_a_host() -> None:
    snap = probe.Snapshot(
        processes=[
            probe.Process(pid=9, net_inode=5, argv=("unshare", "--fork", "--", *INIT)),
            probe.Process(pid=10, net_inode=5, argv=INIT),
            probe.Process(pid=11, net_inode=6, argv=("sshd",)),
        ]
    )
    assert snap.init_of(Path(INIT[-1])).pid == 10  # type: ignore[union-attr]
    assert snap.init_of(Path("/lab/hosts/other/init.json")) is None
    assert [p.pid for p in snap.in_netns(5)] == [9, 10]


def test_processes_sees_this_process() -> None:
    me = next(p for p in probe.processes() if p.pid == os.getpid())
    assert me.net_inode == probe.net_inode(os.getpid())
    assert me.argv


def test_mount_points_and_links() -> None:
    assert probe.is_mount_point(Path("/proc"))
    assert not probe.is_mount_point(Path("/no/such/place"))
    assert probe.link_state("no-such-link0") == "missing"
    assert probe.link_state("lo") == "up"
    assert probe.link_state("lo", bridge="egov-br0") == "down"  # up, but not on the lab bridge
    assert probe.pid_alive(os.getpid())
    assert not probe.pid_alive(2**22 + 1)


def test_umount_builder() -> None:
    assert network.umount("/run/netns") == ["umount", "/run/netns"]
