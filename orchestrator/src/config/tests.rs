//! Config parsing and validation: every problem is reported with its key path.

use std::collections::BTreeMap;

use super::*;

fn vars() -> Interpolator {
    let mut env = BTreeMap::new();
    env.insert("TOKEN".to_string(), "s3cret".to_string());
    env.insert("HOME".to_string(), "/home/me".to_string());
    Interpolator::with_vars(env, Some("/opt/polyclaw/bin".into()))
}

fn parse(text: &str) -> Result<Config, Error> {
    Config::parse(text, ConfigSource::Embedded, &vars())
}

fn issues(text: &str) -> Vec<ConfigIssue> {
    match parse(text) {
        Err(Error::ConfigInvalid { issues, .. }) => issues,
        other => panic!("expected invalid config, got {other:?}"),
    }
}

#[test]
fn embedded_default_is_valid() {
    let config = parse(EMBEDDED_DEFAULT).expect("embedded default parses");
    assert!(!config.servers.is_empty());
    let Transport::Process { command, .. } = &config.servers[0].transport else {
        panic!("default server is a process");
    };
    assert_eq!(command, "/opt/polyclaw/bin/polyclaw-server-echo");
}

#[test]
fn process_and_http_servers() {
    let config = parse(
        r#"
        [servers.time]
        command = "python3"
        args = ["-m", "mcp_server_time", "--local-timezone=${env:TZ_MISSING_OK}"]
        [servers.docs]
        url = "http://127.0.0.1:9000/mcp"
        headers = { Authorization = "Bearer ${env:TOKEN}" }
        prefix = ""
        start = "boot"
        timeout = 5
        "#
        .replace("${env:TZ_MISSING_OK}", "UTC")
        .as_str(),
    )
    .expect("valid");
    assert_eq!(config.servers.len(), 2);
    let docs = &config.servers[0];
    assert_eq!(docs.name, "docs");
    assert_eq!(docs.prefix, "");
    assert_eq!(docs.start, StartPolicy::Boot);
    assert_eq!(docs.timeout.as_secs(), 5);
    match &docs.transport {
        Transport::Http { headers, .. } => assert_eq!(headers["Authorization"], "Bearer s3cret"),
        Transport::Process { .. } => panic!("docs is http"),
    }
    assert_eq!(config.servers[1].prefix, "time");
    assert_eq!(config.servers[1].kind(), "process");
}

#[test]
fn every_problem_is_reported_with_its_path() {
    let found = issues(
        r#"
        [servers.a]
        command = "x"
        url = "http://h/mcp"
        [servers."bad name"]
        command = "x"
        [servers.b]
        url = "ftp://h"
        [servers.c]
        command = "x"
        env = { K = "${env:NOPE}" }
        start = "sometimes"
        [servers.d]
        [servers.e]
        image = "ghcr.io/x/y"
        [servers.polyclaw]
        command = "x"
        "#,
    );
    let paths: Vec<&str> = found.iter().map(|i| i.path.as_str()).collect();
    for expected in [
        "servers.a",
        "servers.bad name",
        "servers.b.url",
        "servers.c.env.K",
        "servers.c.start",
        "servers.d",
        "servers.e.image",
        "servers.polyclaw",
    ] {
        assert!(paths.contains(&expected), "missing {expected} in {paths:?}");
    }
    let nope = found
        .iter()
        .find(|i| i.path == "servers.c.env.K")
        .expect("env issue");
    assert!(
        nope.message.contains("NOPE") && nope.message.contains("export"),
        "{}",
        nope.message
    );
    let image = found
        .iter()
        .find(|i| i.path == "servers.e.image")
        .expect("image issue");
    assert!(image.message.contains("not supported"), "{}", image.message);
}

#[test]
fn unknown_keys_and_syntax_errors_are_errors() {
    let found = issues("[servers.a]\ncommand = \"x\"\ncomand = \"y\"\n");
    assert!(found[0].message.contains("comand"), "{:?}", found);
    let found = issues("[servers.a\ncommand = ");
    assert_eq!(found.len(), 1);
    let found = issues("[front]\nallowed_origins = [\"example.com\"]\n");
    assert_eq!(found[0].path, "front.allowed_origins[0]");
}

#[test]
fn interpolation_rules() {
    let v = vars();
    assert_eq!(v.resolve("a ${env:TOKEN} b").as_deref(), Ok("a s3cret b"));
    assert_eq!(
        v.resolve("cost $$5 and $x").as_deref(),
        Ok("cost $5 and $x")
    );
    assert!(v.resolve("${env:MISSING}").unwrap_err().contains("MISSING"));
    assert!(
        v.resolve("${env:TOKEN")
            .unwrap_err()
            .contains("never closes")
    );
    assert!(
        v.resolve("${what}")
            .unwrap_err()
            .contains("not a known reference")
    );
}

#[test]
fn error_message_names_the_source() {
    let err = Config::parse(
        "[servers.d]\n",
        ConfigSource::File("/tmp/p.toml".into()),
        &vars(),
    )
    .expect_err("invalid");
    let text = err.to_string();
    assert!(text.starts_with("/tmp/p.toml has 1 problem(s)"), "{text}");
    assert!(text.contains("servers.d"), "{text}");
}
