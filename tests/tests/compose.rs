//! `compose/` end to end: polyclaw's own image runs under docker-compose 1.29 with the Docker
//! socket, starts its servers as sibling containers, serves a client on the mapped port, and
//! `docker-compose down` leaves none of its containers behind. Needs Docker and docker-compose:
//! without them it fails and says why.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use polyclaw_tests::python::{run_mcp_client, workspace_root};
use polyclaw_tests::support::{bin, docker_lines, first_text, free_port, ok_result, tool_names};
use serde_json::json;

/// `docker-compose down` on every path.
struct Project {
    name: String,
    file: PathBuf,
    env: Vec<(String, String)>,
}

impl Project {
    fn compose(&self, args: &[&str]) -> Result<std::process::Output> {
        Command::new("docker-compose")
            .arg("-f")
            .arg(&self.file)
            .args(["-p", &self.name])
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .context("docker-compose (Debian's docker-compose 1.29) must be installed")
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "-v", "-t", "10"]);
    }
}

/// Names of the containers made by the polyclaw whose host name (its container's short id) is
/// `owner_host`: other tests may run their own polyclaw containers meanwhile.
fn containers_owned_by(owner_host: &str) -> Result<Vec<String>> {
    docker_lines(&[
        "ps",
        "-a",
        "--filter",
        "label=io.polyclaw.managed=true",
        "--filter",
        &format!("label=io.polyclaw.owner-host={owner_host}"),
        "--format",
        "{{.Names}}",
    ])
}

#[test]
fn compose_runs_polyclaw_with_its_servers_as_sibling_containers() -> Result<()> {
    let build = Command::new(bin("polyclaw")?)
        .args([
            "images", "build", "--only", "polyclaw", "fs", "memory", "echo",
        ])
        .output()?;
    ensure!(
        build.status.success(),
        "`polyclaw images build` failed (this test needs Docker):\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let dir = tempfile::tempdir()?;
    let workspace = dir.path().join("workspace");
    let notes = dir.path().join("notes");
    std::fs::create_dir_all(&workspace)?;
    std::fs::create_dir_all(&notes)?;
    std::fs::write(workspace.join("hello.txt"), "hello from the host\n")?;
    let user = {
        let out = Command::new("id").arg("-u").output()?;
        let uid = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let out = Command::new("id").arg("-g").output()?;
        format!("{uid}:{}", String::from_utf8_lossy(&out.stdout).trim())
    };
    let port = free_port()?;
    let project = Project {
        name: format!("polyclawtest{}", std::process::id()),
        file: workspace_root().join("compose/docker-compose.yml"),
        env: vec![
            ("WORKSPACE".into(), workspace.display().to_string()),
            ("NOTES".into(), notes.display().to_string()),
            ("HOST_USER".into(), user),
            ("POLYCLAW_PORT".into(), port.to_string()),
        ],
    };
    let up = project.compose(&["up", "-d"])?;
    ensure!(up.status.success(), "docker-compose up: {up:?}");

    let health = format!("http://127.0.0.1:{port}/healthz");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok = Command::new("python3")
            .args([
                "-c",
                &format!("import urllib.request as u; u.urlopen('{health}', timeout=2)"),
            ])
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            break;
        }
        if Instant::now() > deadline {
            let logs = project.compose(&["logs", "--no-color"])?;
            bail!(
                "polyclaw in compose did not become healthy within 30 s:\n{}",
                String::from_utf8_lossy(&logs.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }

    let url = format!("http://127.0.0.1:{port}/mcp");
    // notes__remember writes: under the default policy polyclaw asks the user first, by
    // elicitation, and this client says yes.
    let out = run_mcp_client(
        ["--http", &url, "--elicit-reply", "{}"],
        &json!([
            {"op": "list_tools"},
            {"op": "call_tool", "name": "files__read_file", "arguments": {"path": "hello.txt"}},
            {"op": "call_tool", "name": "notes__remember", "arguments": {"key": "compose", "text": "kept on the host"}},
            {"op": "call_tool", "name": "echo__echo", "arguments": {"text": "hi"}},
        ]),
    );
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            let logs = project.compose(&["logs", "--no-color"])?;
            bail!(
                "{e:#}\npolyclaw's log:\n{}",
                String::from_utf8_lossy(&logs.stdout)
            );
        }
    };
    let names = tool_names(ok_result(&out[0], "list_tools")?);
    ensure!(
        names.contains(&"files__read_file") && names.contains(&"notes__remember"),
        "{names:?}"
    );
    let read = ok_result(&out[1], "call_tool")?;
    ensure!(
        first_text(read).contains("hello from the host"),
        "the files server reads the mounted workspace: {read}"
    );
    ok_result(&out[2], "call_tool")?;
    ensure!(
        notes.join("compose.json").is_file(),
        "the note is written to the host folder"
    );
    ensure!(first_text(ok_result(&out[3], "call_tool")?) == "hi");
    let ps = project.compose(&["ps", "-q", "polyclaw"])?;
    let id = String::from_utf8_lossy(&ps.stdout).trim().to_string();
    let owner_host = id
        .get(..12)
        .context("docker-compose ps names polyclaw's container")?;
    let running = containers_owned_by(owner_host)?;
    ensure!(
        running.len() >= 3,
        "sibling containers while it runs: {running:?}"
    );

    let down = project.compose(&["down", "-v", "-t", "10"])?;
    ensure!(down.status.success(), "docker-compose down: {down:?}");
    let left = containers_owned_by(owner_host)?;
    ensure!(
        left.is_empty(),
        "polyclaw removes its sibling containers when compose stops it: {left:?}"
    );
    Ok(())
}
