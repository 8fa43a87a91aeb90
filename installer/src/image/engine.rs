//! `--load ENGINE`: hands the image to a local container engine through
//! the engine's own `load`, as an oci-archive on its standard input, so a
//! pull-request check can run the image with no registry.

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use super::oci::Image;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    Podman,
    /// Docker 25 or later (earlier ones load only docker-archive).
    Docker,
}

impl Engine {
    pub fn program(self) -> &'static str {
        match self {
            Engine::Podman => "podman",
            Engine::Docker => "docker",
        }
    }
}

/// Loads `image` under `name` (`hello:v1`); what the engine said.
pub fn load(engine: Engine, image: &Image, name: &str) -> Result<String> {
    let program = engine.program();
    let archive = image.archive(name)?;
    let mut child = Command::new(program)
        .arg("load")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| {
            format!("running `{program} load`: is {program} installed and on PATH?")
        })?;
    let mut stdin = child.stdin.take().context("the engine's stdin")?;
    // The engine may refuse before reading everything; its own message
    // below says why, so a broken pipe here is not the error to report.
    let written = stdin.write_all(&archive);
    drop(stdin);
    let out = child
        .wait_with_output()
        .with_context(|| format!("waiting for `{program} load`"))?;
    if !out.status.success() {
        bail!(
            "`{program} load` refused the image ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    written.with_context(|| format!("writing the image to `{program} load`"))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
