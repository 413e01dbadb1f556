//! The controlled-substance record's arithmetic and rules (ketamine is Schedule III; esketamine is
//! dispensed under a REMS): a lot's running balance from its log entries, and whether a removal
//! (withdrawal, waste, return) or the withdrawal of a receipt may be recorded. Pure: the entries, the
//! quantities and the clinic's today come in as arguments.

use jiff::civil::Date;
use rust_decimal::Decimal;

/// What one entry of the log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StockEntryKind {
    /// Stock received from a supplier: adds to the lot's balance.
    Received,
    /// Drug withdrawn for a patient's administration: takes from the balance.
    Withdrawn,
    /// Drug wasted before a second witness: takes from the balance.
    Wasted,
    /// Stock returned to a supplier or reverse distributor: takes from the balance.
    Returned,
    /// A physical count: leaves the balance alone; a difference is a discrepancy.
    Count,
}

impl StockEntryKind {
    pub const ALL: [StockEntryKind; 5] = [
        StockEntryKind::Received,
        StockEntryKind::Withdrawn,
        StockEntryKind::Wasted,
        StockEntryKind::Returned,
        StockEntryKind::Count,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StockEntryKind::Received => "received",
            StockEntryKind::Withdrawn => "withdrawn",
            StockEntryKind::Wasted => "wasted",
            StockEntryKind::Returned => "returned",
            StockEntryKind::Count => "count",
        }
    }

    pub fn parse(text: &str) -> Option<StockEntryKind> {
        StockEntryKind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// How the entry's quantity moves the balance: +1, −1 or 0.
    pub fn balance_sign(self) -> i64 {
        match self {
            StockEntryKind::Received => 1,
            StockEntryKind::Withdrawn | StockEntryKind::Wasted | StockEntryKind::Returned => -1,
            StockEntryKind::Count => 0,
        }
    }
}

/// One entry as the balance sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerEntry {
    pub kind: StockEntryKind,
    pub quantity_mg: Decimal,
    /// Entries marked entered in error count for nothing.
    pub entered_in_error: bool,
}

/// A lot's running balance: received − withdrawn − wasted − returned, of the entries not in error.
pub fn lot_balance_mg<'a>(entries: impl IntoIterator<Item = &'a LedgerEntry>) -> Decimal {
    entries
        .into_iter()
        .filter(|entry| !entry.entered_in_error)
        .map(|entry| entry.quantity_mg * Decimal::from(entry.kind.balance_sign()))
        .sum()
}

/// Why the log refuses an entry: the field it concerns, the rule and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockRefusal {
    pub field: &'static str,
    pub rule_id: &'static str,
    pub problem: String,
}

/// Rule ids of the controlled-substance record (docs/controlled-substances.md).
pub const RULE_BALANCE_NEGATIVE: &str = "stock.balance_negative";
pub const RULE_LOT_EXPIRED: &str = "stock.lot_expired";
pub const RULE_WHOLE_DEVICES: &str = "stock.whole_devices";

/// Checks that `quantity_mg` can leave a lot holding `balance_mg` as an entry of `kind`: never below zero,
/// and no withdrawal for a patient from a lot past its expiry date (`today` after `expiry`; a lot is usable
/// through its expiry date). Waste and returns of an expired lot are allowed: that is how it leaves.
pub fn check_removal(
    kind: StockEntryKind,
    balance_mg: Decimal,
    quantity_mg: Decimal,
    expiry: Date,
    today: Date,
) -> Result<(), StockRefusal> {
    if kind == StockEntryKind::Withdrawn && today > expiry {
        return Err(StockRefusal {
            field: "lot_id",
            rule_id: RULE_LOT_EXPIRED,
            problem: format!("the lot expired on {expiry}; it may be returned or wasted, not given"),
        });
    }
    if quantity_mg > balance_mg {
        return Err(StockRefusal {
            field: "quantity_mg",
            rule_id: RULE_BALANCE_NEGATIVE,
            problem: format!(
                "{} mg is more than the lot's balance of {} mg",
                quantity_mg.normalize(),
                balance_mg.normalize()
            ),
        });
    }
    Ok(())
}

/// Checks that marking `entry` entered in error leaves the lot's balance (now `balance_mg`) at zero or
/// above: a receipt whose drug has since been given cannot disappear from the log.
pub fn check_entry_withdrawal(entry: &LedgerEntry, balance_mg: Decimal) -> Result<(), StockRefusal> {
    let after = balance_mg - entry.quantity_mg * Decimal::from(entry.kind.balance_sign());
    if !entry.entered_in_error && after < Decimal::ZERO {
        return Err(StockRefusal {
            field: "status",
            rule_id: RULE_BALANCE_NEGATIVE,
            problem: format!(
                "marking this {} entry in error would leave the lot at {} mg; correct the later entries first",
                entry.kind.as_str(),
                after.normalize()
            ),
        });
    }
    Ok(())
}

/// Esketamine leaves the pharmacy as whole nasal-spray devices of `device_mg` (28 mg: KNOWLEDGE §3.5,
/// the protocol's `dosing.esketamine_device_mg`): a quantity of esketamine must be a whole number of them.
pub fn check_whole_devices(quantity_mg: Decimal, device_mg: i64) -> Result<(), StockRefusal> {
    let device = Decimal::from(device_mg);
    if device > Decimal::ZERO && !(quantity_mg % device).is_zero() {
        return Err(StockRefusal {
            field: "quantity_mg",
            rule_id: RULE_WHOLE_DEVICES,
            problem: format!(
                "esketamine is counted in whole {device_mg} mg devices; {} mg is not",
                quantity_mg.normalize()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: StockEntryKind, mg: i64, entered_in_error: bool) -> LedgerEntry {
        LedgerEntry { kind, quantity_mg: Decimal::from(mg), entered_in_error }
    }

    #[test]
    fn the_balance_skips_counts_and_entries_in_error() {
        let entries = [
            entry(StockEntryKind::Received, 500, false),
            entry(StockEntryKind::Received, 100, true),
            entry(StockEntryKind::Withdrawn, 35, false),
            entry(StockEntryKind::Wasted, 15, false),
            entry(StockEntryKind::Returned, 50, false),
            entry(StockEntryKind::Count, 999, false),
        ];
        assert_eq!(lot_balance_mg(&entries), Decimal::from(400));
    }

    #[test]
    fn removals_are_refused_below_zero_and_withdrawals_after_expiry() {
        let expiry = jiff::civil::date(2026, 12, 31);
        let cases = [
            (StockEntryKind::Withdrawn, 10, 10, jiff::civil::date(2026, 12, 31), None),
            (StockEntryKind::Withdrawn, 10, 11, jiff::civil::date(2026, 12, 1), Some(RULE_BALANCE_NEGATIVE)),
            (StockEntryKind::Withdrawn, 10, 1, jiff::civil::date(2027, 1, 1), Some(RULE_LOT_EXPIRED)),
            (StockEntryKind::Wasted, 10, 1, jiff::civil::date(2027, 1, 1), None),
            (StockEntryKind::Returned, 10, 10, jiff::civil::date(2027, 1, 1), None),
            (StockEntryKind::Returned, 0, 1, jiff::civil::date(2027, 1, 1), Some(RULE_BALANCE_NEGATIVE)),
        ];
        let mut failures = Vec::new();
        for (kind, balance, quantity, today, expected) in cases {
            let got = check_removal(kind, Decimal::from(balance), Decimal::from(quantity), expiry, today)
                .err()
                .map(|refusal| refusal.rule_id);
            if got != expected {
                failures.push(format!("{kind:?} {quantity} of {balance} on {today}: {got:?}, expected {expected:?}"));
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn esketamine_moves_in_whole_devices() {
        assert!(check_whole_devices(Decimal::from(56), 28).is_ok());
        assert_eq!(check_whole_devices(Decimal::from(30), 28).unwrap_err().rule_id, RULE_WHOLE_DEVICES);
    }
}
