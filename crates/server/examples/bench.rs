//! The sync server's benchmark driver, run by `npm run bench:server` (scripts/bench-server.sh):
//!
//! - `bench hello-server`: a bare hello-world on the server's own serving (hyper on a
//!   current-thread runtime per core), the floor the API is compared with;
//! - `bench commit-script`: prints the Redis commit script (redis-benchmark runs it by SHA);
//! - `bench load URL MODE CONNS SECS`: a load of `MODE` (`hello`, `get`, `put`, `storm`) over
//!   `CONNS` keep-alive connections for `SECS` seconds, printing one JSON line of results;
//! - `bench report FILE [BENCHMARKS.md WHEN]`: those lines (and redis-benchmark's) as a
//!   Markdown table, with the ratios the issue sets targets for, also written into the
//!   BENCHMARKS.md section's markers when named; fails when a storm lost an update.
//!
//! A plain HTTP/1.1 client on one current-thread runtime: it takes little of the cores the
//! server, Redis and it share.

use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const STORE: &str = "/v1/stores/bench/sessions";
/// Sessions the GET and PUT loads spread over.
const SESSIONS: usize = 1000;
/// Sessions the storm's writers fight over.
const HOT: usize = 8;

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

struct Answer {
    status: u16,
    etag: Option<String>,
    body: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Conn {
    async fn open(addr: &str) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    async fn send(&mut self, request: &[u8]) -> io::Result<Answer> {
        self.stream.write_all(request).await?;
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.buf[..end]).unwrap_or("");
                let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
                let (mut len, mut etag) = (0, None);
                for line in head.split("\r\n").skip(1) {
                    let Some((name, value)) = line.split_once(':') else {
                        continue;
                    };
                    if name.eq_ignore_ascii_case("content-length") {
                        len = value.trim().parse().unwrap_or(0);
                    } else if name.eq_ignore_ascii_case("etag") {
                        etag = Some(value.trim().to_owned());
                    }
                }
                if self.buf.len() >= end + 4 + len {
                    let body = self.buf[end + 4..end + 4 + len].to_vec();
                    self.buf.drain(..end + 4 + len);
                    return Ok(Answer { status, etag, body });
                }
            }
            let mut chunk = [0u8; 16384];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n").into_bytes()
}

fn put(path: &str, precondition: &str, body: &str) -> Vec<u8> {
    format!(
        "PUT {path} HTTP/1.1\r\nHost: bench\r\n{precondition}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A state of about 100 bytes, as a small app keeps.
fn state(n: u64) -> String {
    format!(
        r#"{{"state":{{"n":{n},"user":"ada","cart":["apple","pear"],"theme":"dark","locale":"en-GB"}},"ttlMs":1800000}}"#
    )
}

fn number_in(body: &[u8]) -> u64 {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    v["state"]["n"].as_u64().unwrap_or(0)
}

/// Creates `ids` (or finds them made) and returns each one's ETag.
async fn ensure(addr: &str, ids: &[String]) -> io::Result<Vec<String>> {
    let mut conn = Conn::open(addr).await?;
    let mut etags = Vec::new();
    for id in ids {
        let path = format!("{STORE}/{id}");
        let a = conn
            .send(&put(&path, "If-None-Match: *", &state(0)))
            .await?;
        let etag = match a.status {
            201 => a.etag,
            _ => conn.send(&get(&path)).await?.etag,
        };
        etags.push(etag.unwrap_or_default());
    }
    Ok(etags)
}

/// The sum of the storm's counters.
async fn counters(addr: &str) -> io::Result<u64> {
    let mut conn = Conn::open(addr).await?;
    let mut total = 0;
    for i in 0..HOT {
        total += number_in(&conn.send(&get(&format!("{STORE}/hot{i}"))).await?.body);
    }
    Ok(total)
}

struct Tally {
    latencies: Vec<u32>,
    errors: usize,
    oks: usize,
}

async fn worker(
    addr: Rc<String>,
    mode: Rc<String>,
    n: usize,
    conns: usize,
    until: Instant,
    start_at: Instant,
    mut etags: Vec<(String, String)>,
) -> io::Result<Tally> {
    let mut conn = Conn::open(&addr).await?;
    let mut tally = Tally {
        latencies: Vec::with_capacity(1 << 16),
        errors: 0,
        oks: 0,
    };
    let mut i = n;
    let mut k = 0u64;
    while Instant::now() < until {
        let t = Instant::now();
        let ok = match mode.as_str() {
            "hello" => conn.send(&get("/")).await?.status == 200,
            "get" => {
                let a = conn
                    .send(&get(&format!("{STORE}/s{}", i % SESSIONS)))
                    .await?;
                i += conns;
                a.status == 200
            }
            "put" => {
                // Each connection writes its own sessions, so every If-Match holds.
                let slot = k as usize % etags.len();
                let (id, etag) = &etags[slot];
                let a = conn
                    .send(&put(
                        &format!("{STORE}/{id}"),
                        &format!("If-Match: {etag}"),
                        &state(k),
                    ))
                    .await?;
                if let Some(e) = a.etag {
                    etags[slot].1 = e;
                }
                a.status == 200
            }
            _ => {
                // The storm: read, add one, write back under If-Match; 412 means try again.
                let path = format!("{STORE}/hot{}", (n + k as usize) % HOT);
                let cur = conn.send(&get(&path)).await?;
                let next = number_in(&cur.body) + 1;
                let a = conn
                    .send(&put(
                        &path,
                        &format!("If-Match: {}", cur.etag.unwrap_or_default()),
                        &state(next),
                    ))
                    .await?;
                match a.status {
                    200 => tally.oks += 1,
                    412 => {}
                    _ => tally.errors += 1,
                }
                true
            }
        };
        k += 1;
        if t >= start_at {
            tally.latencies.push(t.elapsed().as_micros() as u32);
            if !ok {
                tally.errors += 1;
            }
        }
    }
    Ok(tally)
}

async fn load(addr: String, mode: String, conns: usize, secs: u64) -> io::Result<()> {
    let mut owned: Vec<Vec<(String, String)>> = vec![Vec::new(); conns];
    match mode.as_str() {
        "get" => {
            let ids: Vec<String> = (0..SESSIONS).map(|i| format!("s{i}")).collect();
            ensure(&addr, &ids).await?;
        }
        "put" => {
            let ids: Vec<String> = (0..SESSIONS).map(|i| format!("s{i}")).collect();
            let etags = ensure(&addr, &ids).await?;
            for (i, pair) in ids.into_iter().zip(etags).enumerate() {
                owned[i % conns].push(pair);
            }
        }
        "storm" => {
            let ids: Vec<String> = (0..HOT).map(|i| format!("hot{i}")).collect();
            ensure(&addr, &ids).await?;
        }
        _ => {}
    }
    // The storm's counters before it (an earlier round's storm left them where it ended).
    let before = if mode == "storm" {
        counters(&addr).await?
    } else {
        0
    };
    let (addr, mode_rc) = (Rc::new(addr), Rc::new(mode.clone()));
    let start_at = Instant::now() + Duration::from_millis(500);
    let until = start_at + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for (n, etags) in owned.into_iter().enumerate() {
        tasks.push(tokio::task::spawn_local(worker(
            addr.clone(),
            mode_rc.clone(),
            n,
            conns,
            until,
            start_at,
            etags,
        )));
    }
    let mut all = Vec::new();
    let (mut errors, mut oks) = (0, 0);
    for task in tasks {
        let tally = task.await.map_err(io::Error::other)??;
        all.extend(tally.latencies);
        errors += tally.errors;
        oks += tally.oks;
    }
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    let mut out = serde_json::json!({
        "mode": mode,
        "conns": conns,
        "requests": all.len(),
        "rps": (all.len() as f64 / secs as f64).round(),
        "p50_us": pct(0.50),
        "p99_us": pct(0.99),
        "errors": errors,
    });
    if mode == "storm" {
        out["oks"] = oks.into();
        out["counters"] = (counters(&addr).await? - before).into();
    }
    println!("{out}");
    Ok(())
}

/// The table of a run's results (printed, and put between the section's markers in
/// `benchmarks`, a BENCHMARKS.md, when given, with `when`), and whether every storm kept every
/// update.
fn report(path: &str, benchmarks: Option<(&str, &str)>) -> io::Result<bool> {
    let mut table = String::new();
    let kept = table_of(path, &mut table)?;
    print!("{table}");
    if let Some((file, when)) = benchmarks {
        const START: &str = "<!-- bench:server:start -->\n";
        const END: &str = "<!-- bench:server:end -->";
        let text = std::fs::read_to_string(file)?;
        let (Some(a), Some(b)) = (text.find(START), text.find(END)) else {
            return Err(io::Error::other(format!(
                "{file} has no bench:server markers"
            )));
        };
        let block = format!("Measured {when}.\n\n{table}");
        std::fs::write(
            file,
            format!("{}{block}{}", &text[..a + START.len()], &text[b..]),
        )?;
        eprintln!("bench: wrote the table into {file}");
    }
    Ok(kept)
}

/// The median of `values` (0 for none).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// Writes the table of the results in `path` into `out`: per storage and load, the median of
/// the rounds' requests/s, p50 and p99, and the errors of all rounds.
fn table_of(path: &str, out: &mut String) -> io::Result<bool> {
    use std::fmt::Write;
    let text = std::fs::read_to_string(path)?;
    let rows: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let mut keys: Vec<(String, String)> = Vec::new();
    for r in &rows {
        let key = (
            r["label"].as_str().unwrap_or("").to_owned(),
            r["mode"].as_str().unwrap_or("").to_owned(),
        );
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let of = |label: &str, mode: &str| -> Vec<&serde_json::Value> {
        rows.iter()
            .filter(|r| r["label"] == label && r["mode"] == mode)
            .collect()
    };
    let med = |label: &str, mode: &str, field: &str| {
        median(
            of(label, mode)
                .into_iter()
                .filter_map(|r| r[field].as_f64())
                .collect(),
        )
    };
    let rps = |label: &str, mode: &str| med(label, mode, "rps");
    // A ratio: the median over the rounds of the two loads' ratio in each round (run back to
    // back, so the machine's other work weighs on both alike).
    let ratio = |a: (&str, &str), b: (&str, &str)| {
        let pairs = of(a.0, a.1).into_iter().zip(of(b.0, b.1));
        median(
            pairs
                .filter_map(|(x, y)| Some(x["rps"].as_f64()? / y["rps"].as_f64()?))
                .collect(),
        )
    };
    let _ = writeln!(
        out,
        "| storage | load | requests/s | p50 | p99 | errors | |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---|");
    let mut kept = true;
    for (label, mode) in &keys {
        let (label, mode) = (label.as_str(), mode.as_str());
        let note = match (label, mode) {
            ("memory", "get") => format!(
                "{:.2}x hello-world (target >= 0.7)",
                ratio((label, mode), ("hello-world", "hello"))
            ),
            ("redis", "get") => format!(
                "{:.2}x redis-benchmark GET (target >= 0.5)",
                ratio((label, mode), ("redis-benchmark", "get"))
            ),
            ("redis", "put") => format!(
                "{:.2}x redis-benchmark EVALSHA (target >= 0.35)",
                ratio((label, mode), ("redis-benchmark", "put"))
            ),
            (_, "storm") => {
                let (mut counted, mut answered) = (0, 0);
                for r in of(label, mode) {
                    kept &= r["oks"] == r["counters"];
                    counted += r["counters"].as_u64().unwrap_or(0);
                    answered += r["oks"].as_u64().unwrap_or(0);
                }
                let same = if counted == answered { "==" } else { "!=" };
                format!("counters +{counted} {same} 200 answers {answered} (all rounds)")
            }
            _ => String::new(),
        };
        let load = match (label, mode) {
            ("redis-benchmark", "put") => "EVALSHA commit",
            (_, "get") => "GET",
            (_, "put") => "PUT If-Match",
            (_, "storm") => "storm (GET + PUT If-Match)",
            _ => mode,
        };
        let errors: u64 = of(label, mode)
            .into_iter()
            .filter_map(|r| r["errors"].as_u64())
            .sum();
        let _ = writeln!(
            out,
            "| {label} | {load} | {:.0} | {:.2} ms | {:.2} ms | {errors} | {note} |",
            rps(label, mode),
            med(label, mode, "p50_us") / 1000.0,
            med(label, mode, "p99_us") / 1000.0,
        );
    }
    Ok(kept)
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("hello-server") => {
            let running = wasm_session_store_server::server::start_service(
                "127.0.0.1:0".parse().expect("an address"),
                std::thread::available_parallelism().map_or(1, |n| n.get()),
                || async { Ok::<_, String>(()) },
                |_: Rc<()>, _| async {
                    Ok(hyper::Response::new(
                        wasm_session_store_server::http::Body::from("hello"),
                    ))
                },
            )?;
            println!("listening on http://{}", running.addr());
            loop {
                std::thread::park();
            }
        }
        Some("commit-script") => {
            print!("{}", wasm_session_store_server::redis::COMMIT);
            Ok(())
        }
        Some("load") if args.len() == 5 => {
            let addr = args[1].trim_start_matches("http://").to_owned();
            let conns = args[3].parse().expect("CONNS");
            let secs = args[4].parse().expect("SECS");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            tokio::task::LocalSet::new().block_on(&rt, load(addr, args[2].clone(), conns, secs))
        }
        Some("report") if args.len() == 2 || args.len() == 4 => {
            let benchmarks = (args.len() == 4).then(|| (args[2].as_str(), args[3].as_str()));
            if !report(&args[1], benchmarks)? {
                eprintln!("bench: a storm lost updates (counters != 200 answers)");
                std::process::exit(1);
            }
            Ok(())
        }
        _ => {
            eprintln!("bench hello-server | bench commit-script | bench load URL hello|get|put|storm CONNS SECS | bench report FILE [BENCHMARKS.md WHEN]");
            std::process::exit(2);
        }
    }
}
