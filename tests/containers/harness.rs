//! Harness for the container tests, one module per job: the tools run against the deadline
//! (`commands`), unique names and the sweep of leftovers (`names`), the static hookinit
//! (`static_bin`, `elf`), root filesystems from busybox-static (`rootfs`), podman images
//! (`image`) and containers (`podman`, a pseudo-terminal for `-it`), runc containers (`runc`),
//! and tarballs for the loopback HTTP server (`archive`, with hookinit-test-http).
//!
//! Every image, container and bundle is owned by a guard whose `Drop` removes it, so a failing
//! assertion leaves nothing behind. Names carry the test process's pid
//! (`hookinit-e2e-PID-N-TAG`); [`static_hookinit`] also sweeps what a killed earlier run left
//! (names whose pid is no longer running).
//!
//! Nothing sleeps in place of synchronisation: waits poll observable state (`podman inspect`,
//! `podman logs`, `runc state`, a log file, pty output) against `common::DEADLINE` and fail loudly.

#![allow(dead_code)]

mod archive;
mod commands;
mod elf;
mod image;
mod json;
mod names;
mod podman;
mod rootfs;
mod runc;
mod static_bin;

// What the scenarios name; the rest (a `Run`, a `Container`, a `Pty`) they get from methods.
pub use archive::tar_gz;
pub use commands::*;
pub use image::Image;
pub use rootfs::*;
pub use runc::RuncContainer;
pub use static_bin::static_hookinit;
