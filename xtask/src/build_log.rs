//! A build step's commands and their output, kept in one log file; a
//! failing command's error shows the tail of its output and names the log.

use std::{fs::File, io::Write, path::PathBuf};

use anyhow::{Result, bail};

pub(crate) struct BuildLog {
    pub file: File,
    pub path: PathBuf,
}

impl BuildLog {
    pub fn run(&mut self, cmd: xshell::Cmd<'_>) -> Result<()> {
        writeln!(self.file, "$ {cmd}")?;
        let output = cmd.quiet().ignore_status().output()?;
        self.file.write_all(&output.stdout)?;
        self.file.write_all(&output.stderr)?;
        if !output.status.success() {
            let text = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = text.lines().rev().take(25).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "command failed ({}):\n{}\n(full log: {})",
                output.status,
                tail.join("\n"),
                self.path.display()
            );
        }
        Ok(())
    }
}
