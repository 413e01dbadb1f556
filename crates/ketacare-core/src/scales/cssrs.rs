//! C-SSRS screener (KNOWLEDGE §5.9): six yes/no questions plus, when Q6 is yes, whether the behaviour
//! was within the past 3 months; read into a risk level none / low / moderate / high.
//!
//! The form's flow is "if Q2 is no, skip to Q6", so Q3–Q5 are asked only after a yes to Q2. Answers that
//! contradict the flow are rejected rather than guessed at: a yes to Q3, Q4 or Q5 after a no to Q2 is
//! [`InvalidScaleAnswers::Inconsistent`] (the form was not followed, and whether the yes or the no is
//! wrong cannot be told). A recorded "no" for a skipped question is accepted, since some forms write one.
//! Likewise `q6_within_3_months` is asked only after a yes to Q6.
//!
//! An unanswered question is missing data, not a malformed screen: the risk is the level the answers
//! reach whatever the missing ones would say, or [`ScreenedRisk::Indeterminate`] naming the unanswered
//! questions that could still change it (a yes to Q4 is high risk whatever Q6 says, so that stays high).

use super::{InvalidScaleAnswers, ItemName, Scale, checked_answer, expect_count};

/// The questions in answer order.
pub const CSSRS_QUESTIONS: [&str; 7] = ["q1", "q2", "q3", "q4", "q5", "q6", "q6_within_3_months"];

/// The risk level of a screen (KNOWLEDGE §5.9), ordered from none to high.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SuicideRisk {
    None,
    Low,
    Moderate,
    High,
}

impl SuicideRisk {
    pub fn as_str(self) -> &'static str {
        match self {
            SuicideRisk::None => "none",
            SuicideRisk::Low => "low",
            SuicideRisk::Moderate => "moderate",
            SuicideRisk::High => "high",
        }
    }

    /// What KNOWLEDGE §5.9's PROJECT DEFAULT asks of the team at this level.
    pub fn action(self) -> &'static str {
        match self {
            SuicideRisk::None | SuicideRisk::Low => "proceed",
            SuicideRisk::Moderate => "prescriber review before dosing",
            SuicideRisk::High => "block session start, page the prescriber, follow the local crisis protocol",
        }
    }
}

/// The screener's answers as recorded: `None` = not asked or not answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CssrsResponses {
    /// Wished to be dead or not to wake up (past month).
    pub q1: Option<bool>,
    /// Any actual thoughts of killing oneself (past month).
    pub q2: Option<bool>,
    /// Thought about how (method), without intent (asked only if Q2 is yes).
    pub q3: Option<bool>,
    /// Some intention of acting on the thoughts (asked only if Q2 is yes).
    pub q4: Option<bool>,
    /// Worked out details or a plan and intends to carry it out (asked only if Q2 is yes).
    pub q5: Option<bool>,
    /// Any suicidal behaviour (preparation, attempt), lifetime.
    pub q6: Option<bool>,
    /// Whether that behaviour was within the past 3 months (asked only if Q6 is yes).
    pub q6_within_3_months: Option<bool>,
}

/// Screener answers that do not contradict the form's flow; some may be unanswered. Questions skipped by
/// the flow read as "no".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CssrsAnswers {
    responses: CssrsResponses,
}

impl CssrsAnswers {
    /// Checks the answers against the flow: a yes to Q3–Q5 needs Q2 not to be no, and a yes to
    /// `q6_within_3_months` needs Q6 not to be no. Unanswered questions are accepted: they are missing
    /// data, which [`assess_cssrs`] reports.
    pub fn new(responses: CssrsResponses) -> Result<CssrsAnswers, InvalidScaleAnswers> {
        if responses.q2 == Some(false) {
            for (answer, name) in [(responses.q3, "q3"), (responses.q4, "q4"), (responses.q5, "q5")] {
                if answer == Some(true) {
                    return Err(InvalidScaleAnswers::Inconsistent {
                        item: ItemName::Question(name),
                        reason: "answered yes but q2 is no; the screener skips q3-q5 when q2 is no",
                    });
                }
            }
        }
        if responses.q6 == Some(false) && responses.q6_within_3_months == Some(true) {
            return Err(InvalidScaleAnswers::Inconsistent {
                item: ItemName::Question("q6_within_3_months"),
                reason: "answered yes but q6 is no; it is asked only when q6 is yes",
            });
        }
        Ok(CssrsAnswers { responses })
    }

    /// The answers as recorded.
    pub fn responses(&self) -> CssrsResponses {
        self.responses
    }

    fn yes(answer: Option<bool>) -> bool {
        answer == Some(true)
    }
}

/// What a screen says about risk: a level, or the range that unanswered questions leave open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScreenedRisk {
    Level(SuicideRisk),
    /// Unanswered questions could change the level.
    Indeterminate {
        /// The level the given answers reach whatever the unanswered ones would say.
        at_least: SuicideRisk,
        /// The highest level the unanswered questions could still give.
        at_most: SuicideRisk,
        /// The unanswered questions the form asks now that could change the level, in form order.
        missing: Vec<&'static str>,
    },
}

impl ScreenedRisk {
    /// The level's word (`none`, `low`, `moderate`, `high`), or `indeterminate`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ScreenedRisk::Level(level) => level.as_str(),
            ScreenedRisk::Indeterminate { .. } => "indeterminate",
        }
    }

    /// The level the answers given already reach (the level itself when nothing is open).
    pub fn at_least(&self) -> SuicideRisk {
        match self {
            ScreenedRisk::Level(level) | ScreenedRisk::Indeterminate { at_least: level, .. } => *level,
        }
    }

    /// The unanswered questions that could change the level (empty for a level).
    pub fn missing(&self) -> &[&'static str] {
        match self {
            ScreenedRisk::Level(_) => &[],
            ScreenedRisk::Indeterminate { missing, .. } => missing,
        }
    }

    /// What KNOWLEDGE §5.9's PROJECT DEFAULT asks of the team: the level's action, or, while answers that
    /// could raise the level are missing, to complete the screener first.
    pub fn action(&self) -> &'static str {
        match self {
            ScreenedRisk::Level(level) => level.action(),
            ScreenedRisk::Indeterminate { at_least: SuicideRisk::None | SuicideRisk::Low, .. } => {
                "complete the screener before dosing"
            }
            ScreenedRisk::Indeterminate { .. } => "complete the screener; prescriber review before dosing",
        }
    }
}

/// A read screen: the risk and the question that decided the level the given answers reach (`None` when
/// every given answer is no).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CssrsScreen {
    pub answers: CssrsAnswers,
    pub risk: ScreenedRisk,
    pub decided_by: Option<&'static str>,
}

/// Reads the risk (KNOWLEDGE §5.9 [CSSRS-OTTAWA]): Q4, Q5 or Q6 within 3 months → high; Q3 or an older
/// Q6 → moderate; Q1 or Q2 → low; otherwise none. The highest level reached wins. With unanswered
/// questions, the level is the one every way of answering them along the flow gives, or indeterminate
/// when they could give different levels, naming the unanswered questions the form asks now whose
/// answer could change the level.
pub fn assess_cssrs(answers: &CssrsAnswers) -> CssrsScreen {
    let given = answers.responses;
    let (at_least, decided_by) = level_of(&given);
    let completions = completions(&given);
    let at_most = completions.iter().map(|(_, level)| *level).max().unwrap_or(at_least);
    let risk = if at_most == at_least {
        ScreenedRisk::Level(at_least)
    } else {
        let asked_now = asked_now_unanswered(&given);
        let could_change: Vec<usize> =
            asked_now.iter().copied().filter(|&question| could_change_level(&given, &completions, question)).collect();
        let named = if could_change.is_empty() { asked_now } else { could_change };
        ScreenedRisk::Indeterminate {
            at_least,
            at_most,
            missing: named.into_iter().map(|question| CSSRS_QUESTIONS[question]).collect(),
        }
    };
    CssrsScreen { answers: *answers, risk, decided_by }
}

/// The unanswered questions the form asks now (indices into [`CSSRS_QUESTIONS`]): Q1, Q2 and Q6 always;
/// Q3–Q5 after a yes to Q2 (or a yes to one of them, which implies it); `q6_within_3_months` after a yes
/// to Q6.
fn asked_now_unanswered(responses: &CssrsResponses) -> Vec<usize> {
    let answers = as_array(responses);
    let q2_yes = answers[1..=4].contains(&Some(true));
    let asked = |question: usize| match question {
        2..=4 => q2_yes,
        6 => responses.q6 == Some(true),
        _ => true,
    };
    (0..answers.len()).filter(|&question| answers[question].is_none() && asked(question)).collect()
}

/// Every way of answering the unanswered questions that follows the flow (at most 2^7), with its level.
fn completions(responses: &CssrsResponses) -> Vec<([Option<bool>; 7], SuicideRisk)> {
    let answers = as_array(responses);
    let open: Vec<usize> = (0..answers.len()).filter(|&question| answers[question].is_none()).collect();
    (0..1u32 << open.len())
        .filter_map(|choice| {
            let mut filled = answers;
            for (bit, &question) in open.iter().enumerate() {
                filled[question] = Some(choice & (1 << bit) != 0);
            }
            let filled_responses = from_array(filled);
            CssrsAnswers::new(filled_responses).ok().map(|_| (filled, level_of(&filled_responses).0))
        })
        .collect()
}

/// Whether a different answer to `question` (together with the questions the flow asks only because of
/// it: Q3–Q5 for Q2, `q6_within_3_months` for Q6) can change the level while every other unanswered
/// question is held at some answer.
fn could_change_level(
    responses: &CssrsResponses,
    completions: &[([Option<bool>; 7], SuicideRisk)],
    question: usize,
) -> bool {
    let follows: &[usize] = match question {
        1 => &[2, 3, 4],
        5 => &[6],
        _ => &[],
    };
    let given = as_array(responses);
    let held = |filled: &[Option<bool>; 7]| {
        let mut key = *filled;
        for index in std::iter::once(question).chain(follows.iter().copied()) {
            key[index] = given[index];
        }
        key
    };
    completions.iter().any(|(first, first_level)| {
        completions.iter().any(|(second, second_level)| {
            first[question] != second[question] && first_level != second_level && held(first) == held(second)
        })
    })
}

fn as_array(responses: &CssrsResponses) -> [Option<bool>; 7] {
    [responses.q1, responses.q2, responses.q3, responses.q4, responses.q5, responses.q6, responses.q6_within_3_months]
}

fn from_array(answers: [Option<bool>; 7]) -> CssrsResponses {
    let [q1, q2, q3, q4, q5, q6, q6_within_3_months] = answers;
    CssrsResponses { q1, q2, q3, q4, q5, q6, q6_within_3_months }
}

/// The level the answers reach, reading unanswered questions as "no", and the question that decided it.
fn level_of(responses: &CssrsResponses) -> (SuicideRisk, Option<&'static str>) {
    let responses = *responses;
    let yes = CssrsAnswers::yes;
    let q6_recent = yes(responses.q6) && yes(responses.q6_within_3_months);
    let q6_older = yes(responses.q6) && !yes(responses.q6_within_3_months);
    // An older Q6 is only known to be older when the timing was answered.
    let q6_older_name = if responses.q6_within_3_months.is_none() { "q6" } else { "q6 over 3 months ago" };
    let rules: [(bool, SuicideRisk, &'static str); 7] = [
        (yes(responses.q4), SuicideRisk::High, "q4"),
        (yes(responses.q5), SuicideRisk::High, "q5"),
        (q6_recent, SuicideRisk::High, "q6 within 3 months"),
        (yes(responses.q3), SuicideRisk::Moderate, "q3"),
        (q6_older, SuicideRisk::Moderate, q6_older_name),
        (yes(responses.q1), SuicideRisk::Low, "q1"),
        (yes(responses.q2), SuicideRisk::Low, "q2"),
    ];
    match rules.into_iter().find(|(answered_yes, _, _)| *answered_yes) {
        Some((_, risk, question)) => (risk, Some(question)),
        None => (SuicideRisk::None, None),
    }
}

/// Scores the screener from answers in the order q1, q2, q3, q4, q5, q6, q6_within_3_months, each
/// 0 (no) or 1 (yes), `None` for not asked or not answered; six answers leave `q6_within_3_months`
/// unanswered.
pub fn score_cssrs(answers: &[Option<u8>]) -> Result<CssrsScreen, InvalidScaleAnswers> {
    expect_count(Scale::Cssrs, answers, &[6, 7], "6 or 7 answers")?;
    let mut read = [None; 7];
    for (index, answer) in answers.iter().enumerate() {
        read[index] =
            checked_answer(*answer, ItemName::Question(CSSRS_QUESTIONS[index]), 0, 1)?.map(|answer| answer == 1);
    }
    let answers = CssrsAnswers::new(CssrsResponses {
        q1: read[0],
        q2: read[1],
        q3: read[2],
        q4: read[3],
        q5: read[4],
        q6: read[5],
        q6_within_3_months: read[6],
    })?;
    Ok(assess_cssrs(&answers))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `answers`: one character per question in order q1..q6, q6_within_3_months:
    /// `y`, `n` or `-` (not asked). `expected`: `risk by question`, `none`, or the error.
    fn check(answers: &str, expected: &str) {
        let answers: Vec<Option<u8>> = answers
            .chars()
            .map(|answer| match answer {
                'y' => Some(1),
                'n' => Some(0),
                '-' => None,
                digit => Some(digit.to_digit(10).unwrap() as u8),
            })
            .collect();
        let got = match score_cssrs(&answers) {
            Ok(CssrsScreen { risk: ScreenedRisk::Indeterminate { at_least, at_most, missing }, .. }) => {
                format!("indeterminate: {} to {}, missing {}", at_least.as_str(), at_most.as_str(), missing.join(" "))
            }
            Ok(CssrsScreen { risk, decided_by: Some(question), .. }) => format!("{} by {question}", risk.as_str()),
            Ok(CssrsScreen { risk, decided_by: None, .. }) => risk.as_str().to_owned(),
            Err(error) => error.to_string(),
        };
        assert_eq!(got, expected, "{answers:?}");
    }

    #[test]
    fn risk_levels() {
        check("nn---n-", "none");
        check("nn---n", "none");
        check("yn---n-", "low by q1");
        check("nynnnn-", "low by q2");
        check("yynnnn-", "low by q1");
        check("yyynnn-", "moderate by q3");
        check("nn---yn", "moderate by q6 over 3 months ago");
        check("yyyynn-", "high by q4");
        check("yynnyn-", "high by q5");
        check("nn---yy", "high by q6 within 3 months");
        check("yyyyyyy", "high by q4");
        check("yyynnyy", "high by q6 within 3 months");
    }

    #[test]
    fn vignette_v1_q1_yes_q2_no_q6_no_is_low_risk() {
        // VIGNETTES V1: Q1 yes, Q2 no, Q6 no → low risk → proceed.
        check("yn---n-", "low by q1");
        assert_eq!(SuicideRisk::Low.action(), "proceed");
    }

    #[test]
    fn skipped_questions_may_be_recorded_as_no() {
        check("ynnnnnn", "low by q1");
    }

    #[test]
    fn answers_against_the_flow_are_rejected() {
        check("nny--n-", "q3: answered yes but q2 is no; the screener skips q3-q5 when q2 is no");
        check("nn-y-n-", "q4: answered yes but q2 is no; the screener skips q3-q5 when q2 is no");
        check("nn--yn-", "q5: answered yes but q2 is no; the screener skips q3-q5 when q2 is no");
        check("nn---ny", "q6_within_3_months: answered yes but q6 is no; it is asked only when q6 is yes");
    }

    #[test]
    fn unanswered_questions_are_missing_data_named_when_they_could_change_the_level() {
        check("-n---n-", "indeterminate: none to low, missing q1");
        check("n----n-", "indeterminate: none to high, missing q2");
        check("ny---n-", "indeterminate: low to high, missing q3 q4 q5");
        check("nynn-n-", "indeterminate: low to high, missing q5");
        check("nn----", "indeterminate: none to high, missing q6");
        check("nn---y-", "indeterminate: moderate to high, missing q6_within_3_months");
        check("nn---y", "indeterminate: moderate to high, missing q6_within_3_months");
        check("-------", "indeterminate: none to high, missing q1 q2 q6");
        // A yes to Q3 implies Q2 was yes: Q4, Q5 and Q6 could still make it high; Q1 and Q2 cannot matter.
        check("--y----", "indeterminate: moderate to high, missing q4 q5 q6");
        check("yy-n-n-", "indeterminate: low to high, missing q3 q5");
        // A yes that already means high risk is high whatever the unanswered questions would say.
        check("-yny-y-", "high by q4");
        check("--ny---", "high by q4");
        check("nn---yy", "high by q6 within 3 months");
        check("-y--y--", "high by q5");
        // Only Q1 open, with Q3 yes: Q1 cannot change a moderate level.
        check("-yynnn-", "moderate by q3");
    }

    #[test]
    fn out_of_range_answers_and_counts_are_errors() {
        check("n2---n-", "q2: must be 0-1, got 2");
        check("nn---", "cssrs: expected 6 or 7 answers, got 5");
    }

    #[test]
    fn the_level_is_the_highest_any_yes_reaches_over_every_consistent_answer_set() {
        // Independent statement of KNOWLEDGE §5.9, checked over all consistent combinations.
        for bits in 0..128u8 {
            let bit = |index: u8| bits & (1 << index) != 0;
            let responses = CssrsResponses {
                q1: Some(bit(0)),
                q2: Some(bit(1)),
                q3: bit(1).then_some(bit(2)),
                q4: bit(1).then_some(bit(3)),
                q5: bit(1).then_some(bit(4)),
                q6: Some(bit(5)),
                q6_within_3_months: bit(5).then_some(bit(6)),
            };
            let Ok(answers) = CssrsAnswers::new(responses) else { continue };
            let expected = if bit(1) && (bit(3) || bit(4)) || bit(5) && bit(6) {
                SuicideRisk::High
            } else if bit(1) && bit(2) || bit(5) {
                SuicideRisk::Moderate
            } else if bit(0) || bit(1) {
                SuicideRisk::Low
            } else {
                SuicideRisk::None
            };
            assert_eq!(assess_cssrs(&answers).risk, ScreenedRisk::Level(expected), "{responses:?}");
        }
    }
}
