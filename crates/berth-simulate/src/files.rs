//! The file side of `berth simulate`, kept out of the pure core: reading `--load` and
//! `--prices` arguments, and writing a report's outputs to a folder.

use std::path::{Path, PathBuf};

use crate::instances::Catalog;
use crate::load::{Load, LoadError, Series};
use crate::plot;
use crate::report::Report;

/// A file that could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct FileError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Why a `--load` or `--prices` argument could not be used.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file could not be read.
    #[error(transparent)]
    File(#[from] FileError),
    /// The load CSV or shape is malformed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The price file is malformed.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Prices {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

/// Reads one `--load` argument: a CSV file when a file of that name exists, else a shape
/// (`step:web:500:4000:1h`, see [`crate::load::SHAPE_HELP`]).
pub fn read_load(arg: &str) -> Result<Load, InputError> {
    let path = Path::new(arg);
    if path.is_file() {
        let text = std::fs::read_to_string(path).map_err(|source| FileError {
            path: path.into(),
            source,
        })?;
        return Ok(Load::from_csv(arg, &text)?);
    }
    if !arg.contains(':') {
        return Err(FileError {
            path: path.into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        }
        .into());
    }
    Ok(Load {
        series: vec![Series::parse_shape(arg)?],
    })
}

/// The built-in instance table with a `--prices` file applied, when one is given.
pub fn read_catalog(prices: Option<&Path>) -> Result<Catalog, InputError> {
    let mut catalog = Catalog::default();
    if let Some(path) = prices {
        let text = std::fs::read_to_string(path).map_err(|source| FileError {
            path: path.into(),
            source,
        })?;
        catalog
            .apply_price_file(&text)
            .map_err(|e| InputError::Prices {
                path: path.into(),
                line: e.line,
                column: e.column,
                message: e.message,
            })?;
    }
    Ok(catalog)
}

/// What [`write_outputs`] wrote, and the chart it could not draw (with why).
#[derive(Debug, Default)]
pub struct Written {
    pub files: Vec<PathBuf>,
    pub chart_skipped: Option<String>,
}

/// Writes `timeline.csv`, `report.json`, `chart.svg` and `chart.png` into `dir` (created if
/// missing). Without a font the charts are skipped and the reason returned, not an error.
pub fn write_outputs(report: &Report, dir: &Path) -> Result<Written, FileError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FileError { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut written = Written::default();
    let csv = dir.join("timeline.csv");
    let file = std::fs::File::create(&csv).map_err(io(&csv))?;
    let mut out = std::io::BufWriter::new(file);
    report.write_timeline_csv(&mut out).map_err(io(&csv))?;
    std::io::Write::flush(&mut out).map_err(io(&csv))?;
    written.files.push(csv);
    let json = dir.join("report.json");
    let text = serde_json::to_string_pretty(report).map_err(|e| FileError {
        path: json.clone(),
        source: e.into(),
    })?;
    std::fs::write(&json, text + "\n").map_err(io(&json))?;
    written.files.push(json);
    let charts = plot::system_font()
        .ok_or(plot::PlotError::NoFont)
        .and_then(plot::use_font)
        .and_then(|()| Ok((plot::svg(report)?, plot::png(report)?)));
    match charts {
        Ok((svg, png)) => {
            let (svg_path, png_path) = (dir.join("chart.svg"), dir.join("chart.png"));
            std::fs::write(&svg_path, svg).map_err(io(&svg_path))?;
            std::fs::write(&png_path, png).map_err(io(&png_path))?;
            written.files.extend([svg_path, png_path]);
        }
        Err(e) => written.chart_skipped = Some(e.to_string()),
    }
    Ok(written)
}
