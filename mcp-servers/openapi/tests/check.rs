//! The binary: `--check` lists the tools on stderr (or fails with the
//! problems), stdout stays empty, and the server exits on stdin EOF.

use std::{
    io::Write as _,
    process::{Command, Output, Stdio},
};

const BIN: &str = env!("CARGO_BIN_EXE_polyclaw-server-openapi");

fn write_config(dir: &tempfile::TempDir, text: &str) -> anyhow::Result<String> {
    let path = dir.path().join("api.json");
    std::fs::write(&path, text)?;
    path.to_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("temporary path is not UTF-8"))
}

const CONFIG: &str = r#"{
  "name": "pets",
  "description": "Pet store",
  "base_url": "http://127.0.0.1:9/api",
  "document": {
    "openapi": "3.1.0",
    "info": {"title": "Pets", "version": "1"},
    "paths": {
      "/pets": {"get": {"operationId": "listPets"}, "post": {"operationId": "createPet"}},
      "/pets/{petId}": {"get": {}}
    }
  }
}"#;

fn run(args: &[&str]) -> anyhow::Result<Output> {
    Ok(Command::new(BIN).args(args).stdin(Stdio::null()).output()?)
}

#[test]
fn check_lists_the_tools() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = write_config(&dir, CONFIG)?;
    let output = run(&["--config", &path, "--check"])?;
    assert!(output.status.success(), "{output:?}");
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim_end(),
        format!(
            "polyclaw-server-openapi: {path} (pets): 3 tool(s): listPets, createPet, get_pets_petId"
        )
    );
    Ok(())
}

#[test]
fn check_fails_on_a_bad_config() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = write_config(
        &dir,
        r#"{"name": "x", "document": {"openapi": "3.0.0", "paths": {"/a": {"get": {}}}}}"#,
    )?;
    let output = run(&["--config", &path, "--check"])?;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("set base_url"), "{stderr}");

    let output = run(&["--config", "/nonexistent/api.json"])?;
    assert_eq!(output.status.code(), Some(1));
    let output = run(&["--bogus"])?;
    assert_eq!(output.status.code(), Some(2));
    Ok(())
}

#[test]
fn serves_until_stdin_closes() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = write_config(&dir, CONFIG)?;
    let mut child = Command::new(BIN)
        .args(["--config", &path])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdin"))?;
    stdin.write_all(
        br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}
"#,
    )?;
    drop(stdin);
    let output = child.wait_with_output()?;
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(r#""name":"pets""#), "{stdout}");
    assert!(stdout.contains("Pet store"), "{stdout}");
    Ok(())
}
