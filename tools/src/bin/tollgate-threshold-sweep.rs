//! Block thresholds of the screening model's four heads, swept over our own
//! development sets: what each combination blocks and refuses.
//!
//! ```text
//! cargo run --release -p tollgate-tools --bin tollgate-threshold-sweep -- [--model FILE]
//! ```
//!
//! It reads only sets we wrote that are no longer held out
//! (`tests/fixtures/screening/{paraphrase,heldout,heldout2}.jsonl`) and the
//! calibration set (`tools/data/screening_calibration.jsonl`). It never reads
//! `heldout3.jsonl` (the untouched measurement) or the validation data in
//! `../shared/data/` (measured by `make eval-screening`, never tuned on).
//! Every combination runs the whole screener (rules, windows, indirect text),
//! not a shortcut over the scores, so its counts are what the filter does.
//!
//! The output is the Pareto front: for each number of benign items blocked,
//! the combination that blocks the most attacks (ties: the highest
//! thresholds). No combination may refuse more calibration benign items than
//! the shipped thresholds do.

use std::path::{Path, PathBuf};

#[path = "../screening_cases.rs"]
mod screening_cases;
use screening_cases::{body, load_fixture, Label};
use tollgate::screening::settings::{HeadThresholds, ScreeningSettings, CATEGORY_DEFAULTS};
use tollgate::screening::{ScreenOutcome, Screener};

/// Our sets that may guide a choice (never `heldout3.jsonl`).
const DEV_SETS: [&str; 3] = ["paraphrase.jsonl", "heldout.jsonl", "heldout2.jsonl"];
const CALIBRATION: &str = "data/screening_calibration.jsonl";

/// Each head's block threshold is swept from its shipped default down, in
/// steps of 0.05.
const STEPS: [f32; 5] = [0.0, 0.05, 0.1, 0.15, 0.2];

/// The shipped block thresholds: injection, override, leak, jailbreak.
fn shipped_thresholds() -> [f32; 4] {
    let d = ScreeningSettings::default();
    let c = CATEGORY_DEFAULTS;
    [d.model.block_threshold, c[0].0, c[1].0, c[2].0]
}

/// `base - step`, rounded to hundredths, at least 0.05.
fn lower(base: f32, step: f32) -> f32 {
    ((base - step) * 100.0).round().max(5.0) / 100.0
}

struct Item {
    body: Vec<u8>,
    attack: bool,
    calibration: bool,
}

fn load(path: &Path, calibration: bool, out: &mut Vec<Item>) -> Result<(), String> {
    for case in load_fixture(path)? {
        out.push(Item {
            body: body(&case),
            attack: case.label == Label::Attack,
            calibration,
        });
    }
    Ok(())
}

fn head(block: f32) -> HeadThresholds {
    HeadThresholds {
        block_threshold: Some(block),
        monitor_threshold: Some((block - 0.1).max(0.0)),
    }
}

fn run() -> Result<String, String> {
    let mut model: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--model" => model = args.next().map(PathBuf::from),
            _ => return Err("usage: tollgate-threshold-sweep [--model FILE]".into()),
        }
    }
    let model = match &model {
        Some(p) => Some(std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?),
        None => None,
    };
    let tools = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixtures = tools.join("../tests/fixtures/screening");
    let mut items = Vec::new();
    for set in DEV_SETS {
        load(&fixtures.join(set), false, &mut items)?;
    }
    load(&tools.join(CALIBRATION), true, &mut items)?;
    let attacks = items.iter().filter(|i| i.attack).count();
    let benign = items.len() - attacks;

    // (benign blocked, attacks blocked, thresholds)
    let mut all: Vec<(usize, usize, usize, [f32; 4])> = Vec::new();
    let mut shipped = None;
    let base = shipped_thresholds();
    for &si in &STEPS {
        for &so in &STEPS {
            for &sl in &STEPS {
                for &sj in &STEPS {
                    let (i, o, l, j) = (
                        lower(base[0], si),
                        lower(base[1], so),
                        lower(base[2], sl),
                        lower(base[3], sj),
                    );
                    let mut settings = ScreeningSettings::default();
                    settings.model.block_threshold = i;
                    settings.model.monitor_threshold = (i - 0.3).max(0.0);
                    settings.model.categories.override_ = head(o);
                    settings.model.categories.leak = head(l);
                    settings.model.categories.jailbreak = head(j);
                    let mut s =
                        Screener::compile(settings, &[], "screening").map_err(|e| e.to_string())?;
                    if let Some(bytes) = &model {
                        s.use_model(bytes).map_err(|e| e.to_string())?;
                    }
                    let (mut a, mut b, mut cal) = (0usize, 0usize, 0usize);
                    for item in &items {
                        let blocked = matches!(
                            s.screen("/v1/chat/completions", &item.body),
                            ScreenOutcome::Block { .. }
                        );
                        match (blocked, item.attack) {
                            (true, true) => a += 1,
                            (true, false) => {
                                b += 1;
                                cal += usize::from(item.calibration);
                            }
                            _ => {}
                        }
                    }
                    if (si, so, sl, sj) == (0.0, 0.0, 0.0, 0.0) {
                        shipped = Some((b, a, cal));
                    }
                    all.push((b, a, cal, [i, o, l, j]));
                }
            }
        }
    }
    let mut out = format!(
        "development sets {DEV_SETS:?} + calibration: {attacks} attacks, {benign} benign\n\
         benign blocked | attacks blocked | injection override leak jailbreak (calibration benign no more than shipped)\n"
    );
    // No calibration benign item refused that the shipped thresholds admit.
    let cal_max = shipped.map_or(0, |(_, _, c)| c);
    let rows: Vec<(usize, usize, [f32; 4])> = all
        .iter()
        .filter(|r| r.2 <= cal_max)
        .map(|r| (r.0, r.1, r.3))
        .collect();
    if let Some((b, a, cal)) = shipped {
        out.push_str(&format!(
            "shipped defaults {base:?}: {b} benign blocked ({cal} of them calibration), {a} attacks blocked\n"
        ));
    }
    let mut best_so_far = 0usize;
    let max_b = rows.iter().map(|r| r.0).max().unwrap_or(0);
    for b in 0..=max_b {
        // The most attacks at this benign count; ties: the highest thresholds.
        let best = rows.iter().filter(|r| r.0 == b).max_by(|x, y| {
            x.1.cmp(&y.1).then(
                x.2.iter()
                    .sum::<f32>()
                    .partial_cmp(&y.2.iter().sum::<f32>())
                    .unwrap_or(std::cmp::Ordering::Equal),
            )
        });
        if let Some((b, a, t)) = best {
            if *a > best_so_far {
                best_so_far = *a;
                out.push_str(&format!(
                    "{b:>14} | {a:>15} | {:>9} {:>8} {:>4} {:>9}\n",
                    t[0], t[1], t[2], t[3]
                ));
            }
        }
    }
    Ok(out)
}

fn main() {
    match run() {
        Ok(s) => print!("{s}"),
        Err(e) => {
            eprintln!("tollgate-threshold-sweep: {e}");
            std::process::exit(1);
        }
    }
}
