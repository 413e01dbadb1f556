//! C-SSRS screener (KNOWLEDGE §5.9): six yes/no questions plus, when Q6 is yes, whether the behaviour
//! was within the past 3 months; read into a risk level none / low / moderate / high.
//!
//! The form's flow is "if Q2 is no, skip to Q6", so Q3–Q5 are asked only after a yes to Q2. Answers that
//! contradict the flow are rejected rather than guessed at: a yes to Q3, Q4 or Q5 after a no to Q2 is
//! [`InvalidScaleAnswers::Inconsistent`] (the form was not followed, and whether the yes or the no is
//! wrong cannot be told). A recorded "no" for a skipped question is accepted, since some forms write one.
//! Likewise `q6_within_3_months` is asked only after a yes to Q6.

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

/// Screener answers that follow the form's flow. Questions skipped by the flow read as "no".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CssrsAnswers {
    responses: CssrsResponses,
}

impl CssrsAnswers {
    /// Checks the answers against the flow: Q1, Q2 and Q6 always; Q3–Q5 exactly when Q2 is yes;
    /// `q6_within_3_months` exactly when Q6 is yes.
    pub fn new(responses: CssrsResponses) -> Result<CssrsAnswers, InvalidScaleAnswers> {
        let required = |answer: Option<bool>, name: &'static str, reason: &'static str| {
            answer.ok_or(InvalidScaleAnswers::Missing { item: ItemName::Question(name), reason })
        };
        required(responses.q1, "q1", "q1 is always asked")?;
        let q2 = required(responses.q2, "q2", "q2 is always asked")?;
        for (answer, name) in [(responses.q3, "q3"), (responses.q4, "q4"), (responses.q5, "q5")] {
            if q2 {
                required(answer, name, "q3-q5 are asked when q2 is yes")?;
            } else if answer == Some(true) {
                return Err(InvalidScaleAnswers::Inconsistent {
                    item: ItemName::Question(name),
                    reason: "answered yes but q2 is no; the screener skips q3-q5 when q2 is no",
                });
            }
        }
        let q6 = required(responses.q6, "q6", "q6 is always asked")?;
        if q6 {
            required(responses.q6_within_3_months, "q6_within_3_months", "it is asked when q6 is yes")?;
        } else if responses.q6_within_3_months == Some(true) {
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

/// A read screen: the risk level and the question that decided it (`None` when every answer is no).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CssrsScreen {
    pub answers: CssrsAnswers,
    pub risk: SuicideRisk,
    pub decided_by: Option<&'static str>,
}

/// Reads the risk level (KNOWLEDGE §5.9 [CSSRS-OTTAWA]): Q4, Q5 or Q6 within 3 months → high;
/// Q3 or an older Q6 → moderate; Q1 or Q2 → low; otherwise none. The highest level reached wins.
pub fn assess_cssrs(answers: &CssrsAnswers) -> CssrsScreen {
    let responses = answers.responses;
    let yes = CssrsAnswers::yes;
    let q6_recent = yes(responses.q6) && yes(responses.q6_within_3_months);
    let q6_older = yes(responses.q6) && !yes(responses.q6_within_3_months);
    let rules: [(bool, SuicideRisk, &'static str); 7] = [
        (yes(responses.q4), SuicideRisk::High, "q4"),
        (yes(responses.q5), SuicideRisk::High, "q5"),
        (q6_recent, SuicideRisk::High, "q6 within 3 months"),
        (yes(responses.q3), SuicideRisk::Moderate, "q3"),
        (q6_older, SuicideRisk::Moderate, "q6 over 3 months ago"),
        (yes(responses.q1), SuicideRisk::Low, "q1"),
        (yes(responses.q2), SuicideRisk::Low, "q2"),
    ];
    match rules.into_iter().find(|(answered_yes, _, _)| *answered_yes) {
        Some((_, risk, question)) => CssrsScreen { answers: *answers, risk, decided_by: Some(question) },
        None => CssrsScreen { answers: *answers, risk: SuicideRisk::None, decided_by: None },
    }
}

/// Scores the screener from answers in the order q1, q2, q3, q4, q5, q6, q6_within_3_months, each
/// 0 (no) or 1 (yes), `None` for not asked. Six answers are accepted when Q6 is no.
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
    fn missing_and_out_of_range_answers_are_named() {
        check("-n---n-", "q1: is missing; q1 is always asked");
        check("n----n-", "q2: is missing; q2 is always asked");
        check("ny---n-", "q3: is missing; q3-q5 are asked when q2 is yes");
        check("nynn-n-", "q5: is missing; q3-q5 are asked when q2 is yes");
        check("nn----", "q6: is missing; q6 is always asked");
        check("nn---y-", "q6_within_3_months: is missing; it is asked when q6 is yes");
        check("nn---y", "q6_within_3_months: is missing; it is asked when q6 is yes");
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
            assert_eq!(assess_cssrs(&answers).risk, expected, "{responses:?}");
        }
    }
}
