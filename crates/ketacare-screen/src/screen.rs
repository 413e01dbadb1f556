//! One screening run: read the export, decide every patient in parallel, sort by patient id.

use std::path::Path;

use rayon::prelude::*;

use crate::output::ScreenRow;
use crate::params::ScreenParameters;
use crate::reader::{ExportFacts, ReadExportError, ReadMode, ReadOptions, read_export};
use crate::rules::{Status, screen_patient};

/// The rows and the counts for the end summary.
#[derive(Debug)]
pub struct ScreenReport {
    /// One row per `Patient` resource (reading 16), sorted by `patient_id`.
    pub rows: Vec<ScreenRow>,
    pub facts_summary: ExportFacts,
}

impl ScreenReport {
    pub fn count(&self, status: Status) -> usize {
        self.rows.iter().filter(|row| row.result.status == status).count()
    }
}

/// Screens the export under `folder` with `parameters`, as of `options.as_of`.
pub fn screen_export(
    folder: &Path,
    parameters: &ScreenParameters,
    options: ReadOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ScreenReport, ReadExportError> {
    let as_of = options.as_of;
    let mut facts = read_export(folder, ReadOptions { mode: ReadMode::Screen, ..options }, progress)?;
    let patients = std::mem::take(&mut facts.patients);
    let mut rows: Vec<ScreenRow> = patients
        .into_par_iter()
        .filter(|(_, record)| record.has_patient_resource)
        .map(|(id, record)| ScreenRow {
            patient_id: id.into_string(),
            result: screen_patient(&record, parameters, as_of),
        })
        .collect();
    rows.par_sort_unstable_by(|first, second| first.patient_id.cmp(&second.patient_id));
    Ok(ScreenReport { rows, facts_summary: facts })
}
