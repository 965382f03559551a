//! `wss-server`: the sync server. `wss-server --help` says how to run it.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use wasm_session_store_server::auth::Auth;
use wasm_session_store_server::http::{Config, DEFAULT_MAX_BODY};
use wasm_session_store_server::{start, Options, Settings, Storage};

const USAGE: &str = "\
wss-server [--listen 127.0.0.1:8787] [--redis redis://HOST:PORT | --redis-cluster redis://A,redis://B,...]
           [--jwt-secret-file PATH | --insecure-dev] [--max-body BYTES] [--max-ttl-ms MS]
           [--keep-changes N] [--allow-origin ORIGIN]...

Serves the session contract over HTTP under /v1/stores/{name}/. Sessions are kept in memory
unless Redis is named. Auth is an HS256 JWT whose secret is the file's bytes (its sub is the
owner), or none with --insecure-dev (owner `dev`, loopback addresses only).
  --listen ADDR            where to listen (port 0: a free one); default 127.0.0.1:8787
  --redis URL              a standalone Redis or Valkey
  --redis-cluster URLS     a Redis Cluster, through any of its nodes (comma-separated)
  --jwt-secret-file PATH   the HS256 secret, less a trailing newline
  --insecure-dev           no auth, for development on this machine
  --max-body BYTES         the body limit (default 4194304)
  --max-ttl-ms MS          caps every deadline at now + MS (default: none)
  --keep-changes N         changes kept per owner and store (default 10000)
  --allow-origin ORIGIN    answers CORS for this origin (repeatable)";

fn number(flag: &str, value: &str) -> Result<u64, String> {
    value
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{flag} takes a positive whole number, not {value:?}"))
}

/// The options the command line asks for.
fn parse(args: &[String]) -> Result<Options, String> {
    let mut listen: SocketAddr = "127.0.0.1:8787".parse().map_err(|_| "default listen")?;
    let mut storage = Storage::Memory;
    let (mut secret_file, mut dev) = (None, false);
    let mut config = Config {
        auth: Auth::Dev,
        max_body: DEFAULT_MAX_BODY,
        settings: Settings::default(),
        origins: Vec::new(),
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--listen" => {
                let v = value()?;
                listen = v
                    .parse()
                    .map_err(|_| format!("--listen takes HOST:PORT (an IP address), not {v:?}"))?;
            }
            "--redis" | "--redis-cluster" if storage != Storage::Memory => {
                return Err("name one Redis: --redis or --redis-cluster, once".into())
            }
            "--redis" => storage = Storage::Redis(value()?),
            "--redis-cluster" => {
                let urls: Vec<String> = value()?
                    .split(',')
                    .filter(|u| !u.is_empty())
                    .map(str::to_owned)
                    .collect();
                if urls.is_empty() {
                    return Err("--redis-cluster needs at least one node URL".into());
                }
                storage = Storage::Cluster(urls);
            }
            "--jwt-secret-file" => secret_file = Some(value()?),
            "--insecure-dev" => dev = true,
            "--max-body" => config.max_body = number(flag, &value()?)? as usize,
            "--max-ttl-ms" => config.settings.max_ttl_ms = Some(number(flag, &value()?)?),
            "--keep-changes" => config.settings.keep_changes = number(flag, &value()?)?,
            "--allow-origin" => config.origins.push(value()?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    config.auth = match (secret_file, dev) {
        (Some(_), true) => return Err("--jwt-secret-file or --insecure-dev, not both".into()),
        (None, false) => {
            return Err(
                "choose auth: --jwt-secret-file PATH, or --insecure-dev for development".into(),
            )
        }
        (None, true) if !listen.ip().is_loopback() => {
            return Err(format!(
                "--insecure-dev serves without auth, so only on a loopback address, not {}",
                listen.ip()
            ))
        }
        (None, true) => Auth::Dev,
        (Some(path), false) => {
            let bytes =
                std::fs::read(&path).map_err(|e| format!("--jwt-secret-file {path}: {e}"))?;
            if bytes.trim_ascii().is_empty() {
                return Err(format!("--jwt-secret-file {path} is empty"));
            }
            Auth::jwt(&bytes).map_err(|e| format!("--jwt-secret-file {path}: {e}"))?
        }
    };
    let mut options = Options::new(listen, config);
    options.storage = storage;
    Ok(options)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let options = match parse(&args) {
        Ok(options) => options,
        Err(why) => {
            eprintln!("wss-server: {why}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let running = match start(options) {
        Ok(running) => running,
        Err(e) => {
            eprintln!("wss-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on http://{}", running.addr());
    let _ = std::io::stdout().flush();
    let signals = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map(|rt| {
            rt.block_on(async {
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
                tokio::select! {
                    r = tokio::signal::ctrl_c() => r,
                    _ = term.recv() => Ok(()),
                }
            })
        });
    if let Err(e) = signals.and_then(|r| r) {
        eprintln!("wss-server: cannot wait for signals: {e}");
    }
    running.stop();
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn flags_are_checked() {
        let o = parse(&args("--insecure-dev --listen 127.0.0.1:0 --allow-origin https://a --allow-origin https://b --max-ttl-ms 5 --keep-changes 3 --max-body 9")).unwrap();
        assert_eq!(o.config.origins, ["https://a", "https://b"]);
        assert_eq!(o.config.settings.max_ttl_ms, Some(5));
        assert_eq!((o.config.settings.keep_changes, o.config.max_body), (3, 9));
        let o = parse(&args(
            "--insecure-dev --redis-cluster redis://a:1,redis://b:2",
        ))
        .unwrap();
        assert_eq!(
            o.storage,
            Storage::Cluster(vec!["redis://a:1".into(), "redis://b:2".into()])
        );
        for bad in [
            "",
            "--insecure-dev --listen 0.0.0.0:8787",
            "--insecure-dev --listen [::]:1",
            "--insecure-dev --jwt-secret-file /nonexistent",
            "--jwt-secret-file /nonexistent",
            "--insecure-dev --redis redis://a --redis-cluster redis://b",
            "--insecure-dev --max-body 0",
            "--insecure-dev --max-ttl-ms x",
            "--insecure-dev --bogus",
            "--insecure-dev --listen",
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad}");
        }
        assert!(parse(&args("--insecure-dev --listen [::1]:0")).is_ok());
    }
}
