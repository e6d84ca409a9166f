//! Fuzz target: `polyclaw.toml` text → [`Config::parse`] (TOML, then validation into server
//! specs with `${env:..}` and `${polyclaw:..}` references resolved against fixed variables).
//!
//! Parsing must never panic, whatever the text; a configuration it accepts must hold only
//! valid server names. Inputs that set `secrets_file` are skipped: that key makes the parser
//! read a file, and a fuzzer must not read (or hang on) arbitrary paths.

#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use polyclaw::config::{Config, ConfigSource, Interpolator, validate_server_name};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(table) = text.parse::<toml::Table>()
        && table.contains_key("secrets_file")
    {
        return;
    }
    let vars = Interpolator::with_vars(
        BTreeMap::from([
            ("HOME".to_owned(), "/home/fuzz".to_owned()),
            ("TOKEN".to_owned(), "s3cret".to_owned()),
            ("EMPTY".to_owned(), String::new()),
        ]),
        Some("/opt/polyclaw/bin".to_owned()),
    )
    .with_state_dir("/var/lib/polyclaw".to_owned());
    if let Ok(config) = Config::parse(text, ConfigSource::Embedded, &vars) {
        for server in &config.servers {
            assert!(
                validate_server_name(&server.name).is_ok(),
                "accepted a server named {:?}",
                server.name
            );
        }
    }
});
