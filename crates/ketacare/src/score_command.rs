//! `ketacare score SCALE ANSWERS… [--format json|text]`: scores one rating scale at the bedside.
//! This file owns the command's input words and its output formats; the scoring is the core's.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use ketacare_core::protocol::Protocol;

use crate::protocol_file::load_protocol;
use ketacare_core::scales::{
    Phq9Total, Scale, ScaleScore, ScreenedRisk, SuicideItemFlag, answer_item_name, phq9::phq9_difficulty_label,
    score_scale,
};
use serde_json::{Value, json};

/// Exit status for answers that cannot be scored (the same status clap uses for bad arguments).
const EXIT_BAD_INPUT: u8 = 2;

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// The scale: phq9, gad7, madrs, qids_sr16, hamd17, cadss23, cadss6, bprs_positive, moaas, cssrs
    pub scale: Scale,
    /// The answers in form order. `-` or `?` marks a missing answer; commas may separate answers too
    /// (`1,2,0`). For cssrs give q1 q2 q3 q4 q5 q6 [q6_within_3_months] as y/n (or 1/0), `-` if not asked.
    #[arg(required = true, allow_negative_numbers = true)]
    pub answers: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// A site protocol file to score under (default: the protocol shipped with this build).
    #[arg(long, value_name = "FILE")]
    pub protocol: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

pub fn run(args: ScoreArgs) -> anyhow::Result<ExitCode> {
    let ScoreArgs { scale, answers, format, protocol: protocol_path } = args;
    let protocol = load_protocol(protocol_path.as_deref())?;
    let words: Vec<&str> =
        answers.iter().flat_map(|argument| argument.split(',')).filter(|word| !word.is_empty()).collect();
    let answers = match parse_answers(scale, &words) {
        Ok(answers) => answers,
        Err(message) => return Ok(bad_input(&message)),
    };
    let score = match score_scale(scale, &answers, &protocol.scales) {
        Ok(score) => score,
        Err(error) => return Ok(bad_input(&error.to_string())),
    };
    match format {
        OutputFormat::Text => print!("{}", render_text(&score)),
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&render_json(&score, &protocol))?),
    }
    Ok(ExitCode::SUCCESS)
}

fn bad_input(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_BAD_INPUT)
}

/// Reads the answer words: a whole number, `-` or `?` for missing, and for the C-SSRS also y/yes/n/no.
fn parse_answers(scale: Scale, words: &[&str]) -> Result<Vec<Option<u8>>, String> {
    words
        .iter()
        .enumerate()
        .map(|(index, word)| {
            let item = answer_item_name(scale, index, words.len());
            match (scale, word.to_ascii_lowercase().as_str()) {
                (_, "-" | "?") => Ok(None),
                (Scale::Cssrs, "y" | "yes") => Ok(Some(1)),
                (Scale::Cssrs, "n" | "no") => Ok(Some(0)),
                (Scale::Cssrs, _) if word.parse::<u8>().is_err() => {
                    Err(format!("{item}: must be y, n, 1, 0, - or ?, got \"{word}\""))
                }
                _ => word
                    .parse::<u8>()
                    .map(Some)
                    .map_err(|_| format!("{item}: must be a whole number (or - or ? when missing), got \"{word}\"")),
            }
        })
        .collect()
}

fn flag_json(flag: SuicideItemFlag) -> Value {
    let score = match flag {
        SuicideItemFlag::ScreenRequired { score } | SuicideItemFlag::Clear { score } => Some(score),
        SuicideItemFlag::Missing => None,
    };
    json!({ "score": score, "suicide_screen_required": flag.screen_required() })
}

fn render_json(score: &ScaleScore, protocol: &Protocol) -> Value {
    let scale = score.scale();
    let mut output = json!({
        "scale": scale.name(),
        "title": scale.title(),
        "total": score.total(),
        "severity": score.severity().map(|severity| severity.as_str()),
    });
    let details = match score {
        ScaleScore::Phq9(phq9) => json!({
            "prorated": phq9.total.is_prorated(),
            "missing_items": match &phq9.total {
                Phq9Total::Complete { .. } => vec![],
                Phq9Total::Prorated { missing_item, .. } => vec![*missing_item],
                Phq9Total::Indeterminate { missing } => missing.clone(),
            },
            "missing_item_rule": protocol.scales.phq9_missing_item_rule.value.as_str(),
            "item9": flag_json(phq9.item9),
            "difficulty": phq9.difficulty,
        }),
        ScaleScore::QidsSr16(qids) => {
            let domains: serde_json::Map<String, Value> =
                qids.domains.named().iter().map(|(name, value)| ((*name).to_owned(), json!(value))).collect();
            json!({ "domains": domains, "item12": flag_json(qids.item12) })
        }
        ScaleScore::Hamd17(hamd) => json!({ "severity_bands": hamd.bands.as_str() }),
        ScaleScore::Cadss6(cadss) => json!({ "from_full_scale": cadss.from_full_scale }),
        ScaleScore::Moaas(moaas) => json!({
            "meaning": moaas.meaning,
            "loss_of_consciousness": moaas.loss_of_consciousness,
            "sedated": moaas.sedated,
        }),
        ScaleScore::Cssrs(screen) => json!({
            "risk": screen.risk.as_str(),
            "at_least": screen.risk.at_least().as_str(),
            "missing": screen.risk.missing(),
            "decided_by": screen.decided_by,
            "action": screen.risk.action(),
        }),
        ScaleScore::Gad7(_) | ScaleScore::Madrs(_) | ScaleScore::Cadss23(_) | ScaleScore::BprsPositive(_) => {
            json!({})
        }
    };
    let object = output.as_object_mut().expect("an object");
    if let Value::Object(details) = details {
        object.extend(details);
    }
    object.insert("protocol".to_owned(), json!({ "name": protocol.name, "sha256": protocol.sha256 }));
    output
}

fn flag_text(item: &str, flag: SuicideItemFlag) -> String {
    match flag {
        SuicideItemFlag::ScreenRequired { score } => {
            format!("{item}: {score} -> C-SSRS suicide screen required before dosing\n")
        }
        SuicideItemFlag::Clear { score } => format!("{item}: {score}\n"),
        SuicideItemFlag::Missing => {
            format!("{item}: missing -> C-SSRS suicide screen required before dosing (cannot be ruled out)\n")
        }
    }
}

fn render_text(score: &ScaleScore) -> String {
    let title = score.scale().title();
    let headline = match (score.total(), score.severity()) {
        (Some(total), Some(severity)) => format!("{title} total {total} ({})", severity.label()),
        (Some(total), None) => format!("{title} total {total}"),
        (None, _) => title.to_owned(),
    };
    match score {
        ScaleScore::Phq9(phq9) => {
            let mut text = match &phq9.total {
                Phq9Total::Complete { .. } => format!("{headline}\n"),
                Phq9Total::Prorated { missing_item, .. } => {
                    format!("{headline}, prorated: item {missing_item} missing\n")
                }
                Phq9Total::Indeterminate { missing } => {
                    let items: Vec<String> = missing.iter().map(u8::to_string).collect();
                    format!("{title}: no total, {} items missing ({})\n", missing.len(), items.join(", "))
                }
            };
            text.push_str(&flag_text("item 9", phq9.item9));
            if let Some(difficulty) = phq9.difficulty {
                text.push_str(&format!("difficulty: {difficulty} ({})\n", phq9_difficulty_label(difficulty)));
            }
            text
        }
        ScaleScore::QidsSr16(qids) => {
            let domains: Vec<String> =
                qids.domains.named().iter().map(|(name, value)| format!("{name} {value}")).collect();
            format!("{headline}\ndomains: {}\n{}", domains.join(", "), flag_text("item 12", qids.item12))
        }
        ScaleScore::Hamd17(hamd) => format!("{headline} [{} bands]\n", hamd.bands.as_str()),
        ScaleScore::Cadss6(cadss) => {
            let source = if cadss.from_full_scale { "read from the 23 CADSS answers" } else { "6 answers" };
            format!("{headline} ({source})\n")
        }
        ScaleScore::Moaas(moaas) => {
            let sedation = if moaas.sedated { ", sedated" } else { "" };
            format!("{title} {}: {}{sedation}\n", moaas.score, moaas.meaning)
        }
        ScaleScore::Cssrs(screen) => {
            let decided_by = screen.decided_by.map(|question| format!(" (by {question})")).unwrap_or_default();
            let open = match &screen.risk {
                ScreenedRisk::Level(_) => String::new(),
                ScreenedRisk::Indeterminate { at_least, at_most, missing } => format!(
                    ": at least {}{decided_by}, could be {} (unanswered: {})",
                    at_least.as_str(),
                    at_most.as_str(),
                    missing.join(", ")
                ),
            };
            let decided_by = if open.is_empty() { decided_by } else { String::new() };
            format!("{title}: risk {}{decided_by}{open}\naction: {}\n", screen.risk.as_str(), screen.risk.action())
        }
        ScaleScore::Gad7(_) | ScaleScore::Madrs(_) | ScaleScore::Cadss23(_) | ScaleScore::BprsPositive(_) => {
            format!("{headline}\n")
        }
    }
}
