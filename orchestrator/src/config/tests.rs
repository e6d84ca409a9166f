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
        other => panic!("docs is http: {other:?}"),
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
        mounts = ["relative:/data"]
        memory_mb = 1
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
        "servers.e.mounts[0]",
        "servers.e.memory_mb",
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
    let mount = found
        .iter()
        .find(|i| i.path == "servers.e.mounts[0]")
        .expect("mount issue");
    assert!(mount.message.contains("absolute"), "{}", mount.message);
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

#[test]
fn image_servers_are_hardened_by_default_and_relaxable() {
    let config = parse(
        r#"
        [servers.fs]
        image = "polyclaw/fs:latest"
        args = ["--root", "/data"]
        mounts = ["/srv/docs:/data", "/tmp/out:/out:rw"]
        secrets = ["TOKEN"]
        secrets_as = "file"

        [servers.web]
        image = "polyclaw/http:latest"
        network = "bridge"
        read_only = false
        memory_mb = 256
        "#,
    )
    .expect("valid");
    let fs = &config.servers[0];
    let Transport::Docker {
        image,
        mounts,
        container,
        ..
    } = &fs.transport
    else {
        panic!("fs is a container");
    };
    assert_eq!(image, "polyclaw/fs:latest");
    assert_eq!(container, &ContainerSettings::default());
    assert!(mounts[0].read_only && !mounts[1].read_only);
    assert_eq!(fs.secrets_as, SecretsAs::File);
    assert_eq!(
        fs.secrets.0,
        vec![("TOKEN".to_string(), "s3cret".to_string())]
    );
    assert!(
        !format!("{fs:?}").contains("s3cret"),
        "secrets never show in Debug"
    );
    assert!(!serde_json::to_string(fs).unwrap().contains("s3cret"));
    let Transport::Docker { container, .. } = &config.servers[1].transport else {
        panic!("web is a container");
    };
    assert_eq!(container.network, "bridge");
    assert!(!container.read_only);
    assert_eq!(container.memory_mb, 256);
}

#[test]
fn secrets_come_from_env_or_file_and_missing_ones_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secrets.toml");
    std::fs::write(&file, "FROM_FILE = \"f1le-value\"\n").unwrap();
    let text = format!(
        "secrets_file = \"{}\"\n[servers.a]\ncommand = \"x\"\nsecrets = [\"FROM_FILE\", \"TOKEN\"]\n",
        file.display()
    );
    let config = parse(&text).expect("valid");
    assert_eq!(config.servers[0].secrets.0.len(), 2);
    assert_eq!(
        config.servers[0]
            .secrets
            .redact("token s3cret and f1le-value"),
        "token <redacted:TOKEN> and <redacted:FROM_FILE>"
    );
    let found = issues(
        "[servers.a]\ncommand = \"x\"\nsecrets = [\"NOT_SET_ANYWHERE\"]\nsecrets_as = \"file\"\n",
    );
    let paths: Vec<&str> = found.iter().map(|i| i.path.as_str()).collect();
    assert!(
        paths.contains(&"servers.a.secrets[0]") && paths.contains(&"servers.a.secrets_as"),
        "{paths:?}"
    );
}

#[test]
fn embedded_default_runs_our_servers_with_a_process_fallback() {
    let config = parse(EMBEDDED_DEFAULT).expect("embedded default parses");
    let memory = config
        .servers
        .iter()
        .find(|s| s.name == "memory")
        .expect("memory server");
    let Transport::Docker {
        image,
        fallback: Some(fallback),
        mounts,
        container,
        ..
    } = &memory.transport
    else {
        panic!(
            "memory is a container with a fallback: {:?}",
            memory.transport
        );
    };
    assert_eq!(image, "polyclaw/memory:latest");
    assert_eq!(fallback.command, "/opt/polyclaw/bin/polyclaw-server-memory");
    assert!(mounts[0].host.ends_with("memory") && !mounts[0].read_only);
    assert_eq!(container.user, "1000:1000");
}

#[test]
fn port_servers_use_the_private_network_and_bad_combinations_are_named() {
    let config = parse(
        r#"
        [servers.api]
        image = "polyclaw/echo:latest"
        args = ["--http", "0.0.0.0:8080"]
        port = 8080
        warm = 2
        per_client = true
        fallback = { command = "echo-server", args = ["--stdio"] }
        "#,
    )
    .expect("valid");
    let api = &config.servers[0];
    let Transport::Docker {
        port,
        path,
        container,
        fallback,
        ..
    } = &api.transport
    else {
        panic!("api is a container");
    };
    assert_eq!(*port, Some(8080));
    assert_eq!(path, "/mcp");
    assert_eq!(container.network, PRIVATE_NETWORK);
    assert_eq!(
        fallback.as_ref().map(|f| f.args.clone()),
        Some(vec!["--stdio".to_string()])
    );
    assert!(api.per_client);
    assert_eq!(api.warm, 2);

    let found = issues(
        r#"
        [servers.a]
        command = "x"
        port = 80
        warm = 1
        fallback = { command = "y" }

        [servers.b]
        image = "i"
        port = 80
        network = "none"
        path = "mcp"
        warm = 99

        [servers.c]
        url = "http://127.0.0.1:1/mcp"
        per_client = true
        "#,
    );
    let paths: Vec<&str> = found.iter().map(|i| i.path.as_str()).collect();
    for expected in [
        "servers.a.port",
        "servers.a.warm",
        "servers.a.fallback",
        "servers.b.network",
        "servers.b.path",
        "servers.b.warm",
        "servers.c.per_client",
    ] {
        assert!(paths.contains(&expected), "{expected} missing in {paths:?}");
    }
}

#[test]
fn polyclaw_references_resolve() {
    let config = parse(
        "[servers.a]\ncommand = \"${polyclaw:bin_dir}/x\"\nargs = [\"${polyclaw:cwd}\", \"${polyclaw:user}\"]\n",
    )
    .expect("valid");
    let Transport::Process { args, .. } = &config.servers[0].transport else {
        panic!("process");
    };
    assert_eq!(args, &["/work", "1000:1000"]);
    let found = issues("[servers.a]\ncommand = \"${polyclaw:nope}\"\n");
    assert!(found[0].message.contains("polyclaw:cwd"), "{found:?}");
}
