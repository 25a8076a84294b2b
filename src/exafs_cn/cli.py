"""The ``exafs-cn`` command line: parse, call, print.

Expected problems (bad input, missing data) end in one line on stderr and a non-zero
exit status, never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Annotated

import typer

from exafs_cn.elements import METALS_3D
from exafs_cn.exceptions import ExafsCnError

#: What ``exafs-cn --help`` opens with (the module docstring is for the next engineer).
HELP = (
    "Coordination numbers of 3d transition-metal absorbers (Sc-Zn) from K-edge EXAFS. "
    "Start with `exafs-cn predict --example cu-foil`, or `exafs-cn predict YOUR_SCAN.xdi`; "
    "the other commands build the FEFF dataset and the models."
)
# Plain click help (rich_markup_mode=None): typer's rich help shows every flag as taking a `<bool>`.
app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None, help=HELP)
dataset_app = typer.Typer(no_args_is_help=True, help="Inspect a FEFF dataset folder.")
app.add_typer(dataset_app, name="dataset")

DEFAULT_DATA = Path("data")
#: Options several commands share, declared once so that their help reads the same everywhere.
Workers = Annotated[int | None, typer.Option(min=1, help="processes (default: all cores)")]
Scheduler = Annotated[
    str | None, typer.Option(help="Dask: local:N for a local cluster, or tcp://host:port (default: local processes)")
]
Progress = Annotated[bool, typer.Option(help="show progress bars")]
#: Expected problems: one line and a non-zero status (FileNotFoundError: a --source or --data that is not there).
_EXPECTED = (ExafsCnError, FileNotFoundError)


def _show_version(value: bool) -> None:
    if value:
        import exafs_cn

        typer.echo(f"exafs-cn {exafs_cn.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Coordination numbers of 3d transition-metal absorbers (Sc-Zn) from K-edge EXAFS."""


def _fail(message: str) -> None:
    typer.echo(f"exafs-cn: error: {message}", err=True)
    raise typer.Exit(code=2)


def _interrupted(out: Path) -> None:
    """Ctrl-C in a resumable run: one line, status 130, finished shards kept."""
    typer.echo(f"exafs-cn: interrupted; finished shards in {out} are kept, run the same command to resume", err=True)
    raise typer.Exit(code=130)


def _parse_elements(text: str) -> list[str]:
    if text.strip().lower() == "all":
        return list(METALS_3D)
    elements = [e.strip().capitalize() for e in text.split(",") if e.strip()]
    if not elements:
        _fail(f"--elements: none given; name some of {','.join(METALS_3D)}, or 'all'")
    unknown = [e for e in elements if e not in METALS_3D]
    if unknown:
        _fail(f"--elements: {', '.join(unknown)} not among {','.join(METALS_3D)}")
    return elements


def _fmt_score(value: float | None) -> str:
    """A score for the summary line; "-" for one the plan did not measure (e.g. no random split)."""
    return "-" if value is None else f"{value:.3f}"


def _parse_models(text: str, choices: Sequence[str]) -> tuple[str, ...]:
    names = tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in names if m not in choices]
    if unknown or not names:
        _fail(f"--models: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(choices)}")
    return names


@app.command()
def simulate(
    source: Annotated[str, typer.Option(help="'bundled' (the packaged MP set) or a folder of CIF/POSCAR files")] = "bundled",
    out: Annotated[Path, typer.Option(help="dataset folder (created, or resumed if it exists)")] = DEFAULT_DATA,
    elements: Annotated[str, typer.Option(help="comma-separated absorbers, or 'all'")] = "all",
    limit: Annotated[int | None, typer.Option(min=1, help="only the first N structures of the source")] = None,
    preset: Annotated[str, typer.Option(help="FEFF preset (exafs_cn.feff.PRESETS; a wrong name lists them)")] = "fast",
    workers: Workers = None,
    scheduler: Scheduler = None,
    integer_only: Annotated[bool, typer.Option(help="only pairs whose site-averaged CN is an integer")] = False,
    shard_size: Annotated[int, typer.Option(min=1, help="site results per shard file")] = 500,
    progress: Progress = True,
) -> None:
    """Label structures with CrystalNN and run FEFF on every absorber site (resumable)."""
    from exafs_cn.datagen._simulate import simulate as run_simulation

    chosen = _parse_elements(elements)
    _check_output_folder(out, "--out")

    try:
        report = run_simulation(
            source,
            str(out),
            elements=chosen,
            limit=limit,
            preset=preset,
            workers=workers,
            scheduler=scheduler,
            integer_only=integer_only,
            shard_size=shard_size,
            progress=progress,
        )
    except _EXPECTED as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _interrupted(out)
    typer.echo(
        f"{report.structures} structures ({report.structures_failed} unreadable or without a 3d absorber; "
        f"{report.labelled_now} labelled now); "
        f"{report.sites_planned} sites planned, {report.sites_already_done} already done, "
        f"{report.sites_run} run now ({report.failures_now} failed), {report.shards_written} shards written to {out}"
    )


@app.command()
def reproduce(
    out: Annotated[Path, typer.Option(help="folder for results.json, report.html and the figures")] = Path("runs/reproduce"),
    data: Annotated[
        Path | None, typer.Option(help="dataset folder (default: $EXAFS_CN_DATA, ./data, or the source checkout's data/)")
    ] = None,
    quick: Annotated[bool, typer.Option(help="a small fixed subset (minutes), for a first look")] = False,
    models: Annotated[
        str | None,
        typer.Option(
            help="comma-separated: rf, bagging, nn (the study's, on R space), rf_all (RF on R+k+wavelet), "
            "et_all (extra trees on R+k+wavelet), et_all_f20 (the same, 20% of inputs per split), lgbm_all "
            "(LightGBM on R+k+wavelet), vote_all (RF + LightGBM soft vote), hgb [default: rf,bagging,nn,et_all]"
        ),
    ] = None,
    elements: Annotated[str, typer.Option(help="comma-separated absorbers, or 'all'")] = "all",
    seed: Annotated[int, typer.Option(help="seed of splits, models and the quick subset")] = 0,
    preset: Annotated[
        str | None, typer.Option(help="spectra of which preset (default: fast, or the dataset's only one, e.g. mp-api)")
    ] = None,
    workers: Workers = None,
    scheduler: Scheduler = None,
    progress: Progress = True,
) -> None:
    """The study's experiments on the dataset: per-element CV, importance, report."""
    from dataclasses import replace

    from exafs_cn.datagen._dataset import Dataset, locate_dataset
    from exafs_cn.learn._report import write_report
    from exafs_cn.learn._reproduce import MODEL_SPECS, QUICK_PLAN, ExperimentPlan, run_experiments

    _check_output_folder(out, "--out")  # before half an hour of work, not after
    base = QUICK_PLAN if quick else ExperimentPlan()
    model_names = base.models if models is None else _parse_models(models, tuple(MODEL_SPECS))
    plan = replace(base, models=model_names, elements=tuple(_parse_elements(elements)), seed=seed)
    try:
        dataset = Dataset(locate_dataset(data))
        results = run_experiments(
            dataset,
            plan,
            preset=preset or dataset.default_preset(),
            workers=workers,
            progress=progress,
            log=lambda m: typer.echo(m, err=True),
            scheduler=scheduler,
        )
    except _EXPECTED as exc:
        _fail(str(exc))
    page = write_report(results, out)
    typer.echo(
        f"mean best-model accuracy (grouped CV): {results['mean_best_accuracy']:.3f} "
        f"(random split {_fmt_score(results['mean_best_accuracy_random_split'])}; always-commonest-CN {results['mean_majority_accuracy']:.3f}); "
        f"importance below 3 A: {_fmt_score(results['importance_share_below_3A'])}; report: {page}"
    )


@app.command()
def train(
    models_dir: Annotated[
        Path | None,
        typer.Option("--models-dir", help="folder for the models (default $EXAFS_CN_MODELS); predict reads it with --models-dir"),
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="dataset folder (default: $EXAFS_CN_DATA, ./data, or the source checkout's data/)")
    ] = None,
    models: Annotated[
        str, typer.Option(help="comma-separated: rf, bagging, nn, hgb (CN classifiers), cn_mean (average CN with interval), r1 and neighbour (first shell)")
    ] = "rf,cn_mean",
    elements: Annotated[str, typer.Option(help="comma-separated absorbers, or 'all'")] = "all",
    seed: Annotated[int, typer.Option()] = 0,
    preset: Annotated[
        str | None, typer.Option(help="spectra of which preset (default: fast, or the dataset's only one, e.g. mp-api)")
    ] = None,
    augment: Annotated[int, typer.Option(min=0, help="measured-looking copies per training spectrum (0: FEFF spectra only)")] = 3,
    trees: Annotated[int | None, typer.Option(min=1, help="trees per ensemble (rf, bagging; default: as the shipped models)")] = None,
    min_leaf: Annotated[
        int | None, typer.Option(min=1, help="fewest training rows per leaf (rf, bagging; larger: smaller files; default: as shipped)")
    ] = None,
    workers: Workers = None,
    scheduler: Scheduler = None,
    progress: Progress = True,
) -> None:
    """Fit the final models on all data and save them with their settings."""
    from exafs_cn.datagen._dataset import Dataset, locate_dataset
    from exafs_cn.learn._train import train_models
    from exafs_cn.models._names import AVERAGE_CN_MODEL, FIRST_SHELL_MODELS, MODEL_NAMES

    model_names = _parse_models(models, (*MODEL_NAMES, AVERAGE_CN_MODEL, *FIRST_SHELL_MODELS))
    sizes = {k: v for k, v in (("n_estimators", trees), ("min_samples_leaf", min_leaf)) if v is not None}
    target = models_dir or (Path(os.environ["EXAFS_CN_MODELS"]) if os.environ.get("EXAFS_CN_MODELS") else None)
    if target is None:
        _fail("say where the models go: --models-dir DIR or $EXAFS_CN_MODELS (predict uses the shipped models otherwise)")
    _check_output_folder(target, "--models-dir")  # before training, not after
    try:
        dataset = Dataset(locate_dataset(data))
        written = train_models(
            dataset,
            target,
            model_names=model_names,
            elements=_parse_elements(elements),
            preset=preset or dataset.default_preset(),
            augment_copies=augment,
            **sizes,
            seed=seed,
            workers=workers,
            scheduler=scheduler,
            progress=progress,
            log=lambda m: typer.echo(m, err=True),
        )
    except _EXPECTED as exc:
        _fail(str(exc))
    if not written:
        typer.echo("exafs-cn: error: no model written (no element has two CN classes with enough spectra)", err=True)
        raise typer.Exit(code=1)
    typer.echo(f"{len(written)} models written to {target}; use them with `exafs-cn predict --models-dir {target}` or EXAFS_CN_MODELS={target}")


@app.command()
def predict(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="measured spectra: XDI, Athena project (.prj), HDF5/NeXus, SPEC, HASYLAB .fio or column files, or folders of them"),
    ] = None,
    example: Annotated[
        list[str] | None, typer.Option(help="an example spectrum the package carries (repeatable; `exafs-cn examples` lists them)")
    ] = None,
    element: Annotated[
        str | None, typer.Option(help="absorber where the file does not say (else detected from the edge energy)")
    ] = None,
    model: Annotated[str, typer.Option(help="CN classifier family: rf, et, bagging, nn, hgb (as trained)")] = "rf",
    models_dir: Annotated[
        Path | None, typer.Option("--models-dir", help="models from `exafs-cn train` (default $EXAFS_CN_MODELS, else the shipped ones)")
    ] = None,
    energy: Annotated[str | None, typer.Option(help="energy column or expression, e.g. 'col1*1000'")] = None,
    mu: Annotated[str | None, typer.Option(help="mu column or expression, e.g. 'log(i0/itrans)' or 'ifluor/i0'")] = None,
    e0: Annotated[
        str | None,
        typer.Option(help="E0 in eV (8980.5, as set in Athena), or a shift from the one the model's rule finds ('+5', '-3.5')"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per spectrum (or error) per line")] = False,
    plot: Annotated[Path | None, typer.Option(help="folder for one figure per spectrum")] = None,
    fit: Annotated[bool, typer.Option("--fit", help="a first-shell Larch fit started from each answer (N, R, sigma2, E0)")] = False,
    s02: Annotated[float | None, typer.Option(min=0.1, max=1.5, help="S02 held fixed in --fit (default 0.9)")] = None,
    foil: Annotated[Path | None, typer.Option(help="a metal foil of the same element: --fit takes S02 from a fit of it")] = None,
    csv: Annotated[Path | None, typer.Option(help="also write a table, one row per spectrum (a new file: never replaces one)")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="processes that read and process spectra (default: all cores; a pool from 8 spectra per process)")
    ] = None,
    report_page: Annotated[
        Path | None,
        typer.Option("--report", help="also write one self-contained HTML page: the table, a thumbnail per spectrum, the series (a new file)"),
    ] = None,
) -> None:
    """CN of measured spectra, with class probabilities, or "no answer" with the reason.

    A folder given as input stands for the files in it, in name order (hidden files and
    subfolders are left out).
    """
    import warnings

    from exafs_cn.measured._pipeline import predict_batches
    from exafs_cn.measured._plot import FigureNames
    from exafs_cn.measured._predict import FileInput, ModelStore, PredictError
    from exafs_cn.measured._prediction import Failure
    from exafs_cn.measured._readers import Columns, E0Option, SpectrumFileError, check_element_option
    from exafs_cn.models._names import MODEL_NAMES
    from exafs_cn.parallel import default_workers

    if model not in MODEL_NAMES:
        _fail(f"--model {model}: not a CN classifier; choose from {', '.join(MODEL_NAMES)}")
    paths = _expand_inputs(list(paths or []), list(example or []))
    for option, target in (("--csv", csv), ("--report", report_page)):
        if target is not None:
            _check_new_file(target, option)
    if plot is not None:
        _check_output_folder(plot, "--plot")
    if (s02 is not None or foil is not None) and not fit:
        _fail("--s02 and --foil are settings of --fit; add --fit")
    if s02 is not None and foil is not None:
        _fail("give --s02 or --foil, not both")
    # numpy's "invalid value" and "mean of empty slice" from inside Larch's fits: noise for a
    # user, whose spectrum's verdict is its own line.
    warnings.simplefilter("ignore", RuntimeWarning)
    # A line per answer as soon as it is known, also into a pipe (`| tee`, a notebook reading
    # --json): block buffering would hold a batch's lines back in 8 KB pieces.
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(line_buffering=True)
    try:
        element = check_element_option(element, "--element")
    except SpectrumFileError as exc:
        _fail(printable(str(exc).split(": ", 1)[1]))
    try:
        e0_option = E0Option.parse(e0)
    except ValueError as exc:
        _fail(printable(str(exc)))
    store = ModelStore(models_dir, model)
    try:
        store.check()  # a missing folder or an unusable calibration: said once, not per spectrum
    except PredictError as exc:
        _fail(f"--models-dir: {printable(str(exc))}")
    columns = Columns(energy=energy, mu=mu)
    figures = FigureNames(plot) if plot is not None else None
    failed = finished = 0
    fits = _fit_settings(store, s02, foil) if fit else None
    table: list | None = [] if csv is not None or report_page is not None else None  # every answer, for --csv and --report

    def report_error(failure: Failure) -> None:
        nonlocal failed
        failed += 1
        typer.echo(f"exafs-cn: error: {printable(failure.error)}", err=True)
        if as_json:
            typer.echo(json.dumps(failure.to_dict()))

    def report(item) -> None:
        if table is not None:
            table.append(item)
        if isinstance(item, Failure):
            report_error(item)
            return
        if as_json:
            typer.echo(json.dumps(item.to_dict()))
        else:
            typer.echo(printable(item.answer_line()))
            if item.fit_line():  # printable line by line: a newline in a file name stays escaped
                typer.echo(f"  {printable(item.fit_line())}")

    def report_figure(item, figure) -> None:
        if figure.error is not None:  # full disk, a name the file system refuses, ...
            report_error(Failure(item.file, item.group, figure.error))
        elif figure.existing is not None:
            taken = printable(str(figure.existing))
            typer.echo(f"exafs-cn: note: {taken} exists (not written by this run): figure saved as {figure.path.name}", err=True)

    # The pipeline predicts in batches of whole files (read on the pool's workers; one model
    # call per element for a batch): lines come out batch by batch, never half of a file's.
    inputs = (FileInput(path, element, columns, e0_option) for path in paths)
    try:
        # closing(): a Ctrl-C while a batch is printed shuts the pool down here, not at exit.
        with closing(predict_batches(inputs, store, fits, workers=workers or default_workers(), figures=figures)) as batches:
            for batch in batches:
                for index, item in enumerate(batch.results):
                    report(item)
                    if index in batch.figures:
                        report_figure(item, batch.figures[index])
                finished += batch.inputs
    except KeyboardInterrupt:
        typer.echo(f"exafs-cn: interrupted after {finished} of {len(paths)} inputs; the lines above are complete", err=True)
        raise typer.Exit(code=130) from None
    finally:
        if fits is not None:
            fits[1].close()
    if csv is not None:
        _write_output(table, csv, "--csv", "table", _save_table)
    if report_page is not None:
        from exafs_cn.measured._series_report import save_series_report

        _write_output(table, report_page, "--report", "report", save_series_report)
    if failed:
        raise typer.Exit(code=1)


def _expand_inputs(paths: list[Path], examples: list[str]) -> list[Path]:
    """The files to predict: each path, each folder's files in name order, then each example."""
    from exafs_cn.examples import UnknownExampleError
    from exafs_cn.examples import example as example_path

    if not paths and not examples:
        _fail("nothing to predict: give spectrum files or folders, or --example NAME (`exafs-cn examples` lists them)")
    expanded: list[Path] = []
    for path in paths:
        if not path.is_dir():
            expanded.append(path)  # a missing or unreadable file is its own error line later
            continue
        try:
            inside = sorted((p for p in path.iterdir() if not p.name.startswith(".") and not p.is_dir()), key=lambda p: p.name)
        except OSError as exc:
            _fail(f"{printable(str(path))}: cannot list the folder: {exc.strerror or exc}")
        if not inside:
            typer.echo(f"exafs-cn: note: {printable(str(path))}: no files in the folder", err=True)
        expanded.extend(inside)
    for name in examples:
        try:
            expanded.append(example_path(name))
        except UnknownExampleError as exc:
            _fail(f"--example {printable(str(exc))}")
    return expanded


def _check_new_file(path: Path, option: str) -> None:
    """Fail in one line, before any work, where ``path`` exists (a run never replaces a file
    it did not write) or its folder cannot be written."""
    if path.exists() or path.is_symlink():
        _fail(f"{option} {printable(str(path))}: exists; give a new file name (a run never replaces a file it did not write)")
    _check_output_folder(path.parent if str(path.parent) else Path("."), option)


def _write_output(results: list, path: Path, option: str, what: str, write) -> None:
    """``write(results, path)`` (the --csv table or the --report page), whole or not at all, never
    over a file; one line where it cannot be."""
    try:
        write(results, path)
    except FileExistsError:
        _fail(f"{option} {printable(str(path))}: appeared during the run; the {what} was not written")
    except OSError as exc:
        _fail(f"{option} {printable(str(path))}: not written: {exc.strerror or exc}")
    typer.echo(f"exafs-cn: {what} of {len(results)} spectra written to {printable(str(path))}", err=True)


def _save_table(results: list, path: Path) -> None:
    from exafs_cn.atomic import write_new_atomic
    from exafs_cn.measured._prediction import to_dataframe

    path.parent.mkdir(parents=True, exist_ok=True)
    write_new_atomic(path, lambda tmp: to_dataframe(results).to_csv(tmp, index=False))


@app.command()
def examples() -> None:
    """List the example spectra the package carries (for `predict --example NAME`)."""
    from exafs_cn.examples import EXAMPLES

    for item in EXAMPLES.values():
        typer.echo(f"{item.name:9s} {item.element:2s} CN {item.textbook_cn:2d}  {item.compound}  ({item.path})")


def _fit_settings(store, s02: float | None, foil: Path | None) -> tuple:
    """``add_fits``'s S02 choice and FEFF paths for a ``predict --fit`` run; one line and exit 2
    where the foil cannot give an S02."""
    from exafs_cn.measured._fit import FitError, ReferencePaths
    from exafs_cn.measured._pipeline import s02_choice

    paths = ReferencePaths()
    try:
        return s02_choice(store, s02, foil, paths), paths
    except FitError as exc:
        paths.close()
        _fail(f"--foil {printable(str(exc))}")


def printable(text: str) -> str:
    """``text`` on one line: control characters (a newline in a file name) shown escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _check_output_folder(folder: Path, option: str) -> None:
    """Fail in one line, before any work, where ``folder`` could not be made or written:
    a file in its place or above it, a name the file system refuses, a read-only parent.
    Nothing is created: an invocation refused later for another reason leaves no trace."""
    try:
        if folder.exists() and not folder.is_dir():
            _fail(f"{option} {folder}: exists and is not a folder")
        existing = next(p for p in (folder, *folder.absolute().parents) if p.exists())
        if not existing.is_dir():
            _fail(f"{option} {folder}: {existing} is a file, not a folder")
        if not os.access(existing, os.W_OK | os.X_OK):
            _fail(f"{option} {folder}: cannot write in {existing}")
    except OSError as exc:  # a name too long, a loop of links
        _fail(f"{option} {folder}: cannot write there: {exc.strerror or exc}")


@app.command("fetch-mp")
def fetch_mp(
    out: Annotated[Path, typer.Option(help="dataset folder for MP's spectra (created, or resumed); not the FEFF dataset's")],
    elements: Annotated[str, typer.Option(help="comma-separated absorbers, or 'all'")] = "all",
    batch_size: Annotated[int, typer.Option(min=1, max=1000, help="documents per API request")] = 200,
    endpoint: Annotated[str, typer.Option(help="Materials Project API address")] = "https://api.materialsproject.org/",
    progress: Progress = True,
) -> None:
    """Download MP's K-edge EXAFS spectra (needs MP_API_KEY) into a dataset folder."""
    from exafs_cn.datagen._dataset import Dataset
    from exafs_cn.datagen._fetch_mp import fetch_mp as run_fetch

    chosen = _parse_elements(elements)
    try:
        report = run_fetch(Dataset(out), chosen, endpoint=endpoint, batch_size=batch_size, progress=progress)
    except _EXPECTED as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _interrupted(out)
    typer.echo(
        f"MP database {report.database_version}: {report.documents_listed} documents listed, {report.already_fetched} already here; "
        f"{report.spectra_written} spectra and {report.failures} failures written in {report.shards_written} shards to {out}"
    )


@dataset_app.command("info")
def dataset_info(
    path: Annotated[Path, typer.Argument(help="dataset folder")] = DEFAULT_DATA,
    preset: Annotated[str | None, typer.Option(help="preset to summarise (default: fast, or the dataset's only one)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """Counts per element and CN, failures by reason, CPU time."""
    from exafs_cn.datagen._dataset import Dataset

    if not path.is_dir():
        _fail(f"{path}: no such dataset folder")
    try:
        dataset = Dataset(path)
        preset = preset or dataset.default_preset()
        summary = dataset.summary()
    except _EXPECTED as exc:
        _fail(str(exc))
    if preset not in summary["presets"]:
        _fail(f"{path}: no data for preset {preset!r} (has: {', '.join(summary['presets'])})")
    stats = summary["presets"][preset]
    if as_json:
        flat = {
            "dataset": summary["dataset"],
            "preset": preset,
            "spectra": stats["spectra"],
            "sites": stats["sites"],
            "per_element": stats["per_element"],
            "failures": stats["failures"] + sum(summary["label_failures"].values()),
            "failures_by_reason": {**summary["label_failures"], **stats["failures_by_reason"]},
            "structures_labelled": summary["structures_labelled"],
            "pairs_labelled": summary["pairs_labelled"],
            "pairs_with_integer_cn": summary["pairs_with_integer_cn"],
            "feff_run_hours": stats["feff_run_hours"],
            "sites_planned": stats["sites_planned"],
            "sites_attempted": stats["sites_attempted"],
        }
        typer.echo(json.dumps(flat))
        return
    typer.echo(format_summary(summary, preset))


@dataset_app.command("card")
def dataset_card(
    path: Annotated[Path, typer.Argument(help="dataset folder")] = DEFAULT_DATA,
    preset: Annotated[str, typer.Option(help="FEFF preset to describe")] = "fast",
    benchmark: Annotated[Path, typer.Option(help="JSON from benchmarks/simulate.py")] = Path("benchmarks/results/simulate.json"),
) -> None:
    """Write the dataset card PATH/README.md from the data itself."""
    from exafs_cn.atomic import write_text_atomic
    from exafs_cn.datagen._card import load_benchmark, render_card
    from exafs_cn.datagen._dataset import Dataset

    if not path.is_dir():
        _fail(f"{path}: no such dataset folder")
    try:
        text = render_card(Dataset(path), preset, load_benchmark(benchmark))
    except _EXPECTED as exc:
        _fail(str(exc))
    write_text_atomic(text, path / "README.md")
    typer.echo(f"wrote {path / 'README.md'}")


@dataset_app.command("first-shell")
def dataset_first_shell(
    path: Annotated[Path, typer.Argument(help="dataset folder")] = DEFAULT_DATA,
    source: Annotated[str | None, typer.Option(help="where its structures are (default: the source it was made from)")] = None,
    workers: Workers = None,
    scheduler: Scheduler = None,
    progress: Progress = True,
) -> None:
    """First-shell labels (distance, spread, neighbour elements) for every labelled site; resumable."""
    from exafs_cn.datagen._dataset import Dataset
    from exafs_cn.datagen._first_shell_labels import label_dataset

    if not (path / "labels.parquet").is_file():
        _fail(f"{path}: no labels.parquet (run `exafs-cn simulate --out {path}` first)")
    try:
        done = label_dataset(Dataset(path), source, workers, progress, scheduler)
        table = Dataset(path).first_shell()
    except _EXPECTED as exc:
        _fail(str(exc))
    failed = int(table["reason"].notna().sum())
    typer.echo(f"{done} sites labelled now; {len(table)} in {path / 'first_shell'} ({failed} that CrystalNN could not take)")


@dataset_app.command("fit-references")
def dataset_fit_references(
    path: Annotated[Path, typer.Argument(help="dataset folder made from the bundled structures, with first-shell labels")] = DEFAULT_DATA,
    out: Annotated[Path | None, typer.Option(help="where to write the table (default: the package's own, for a release)")] = None,
) -> None:
    """The reference sites `predict --fit` takes FEFF paths from: single-element first shells."""
    from exafs_cn.datagen._dataset import Dataset
    from exafs_cn.datagen._fit_references import write_references
    from exafs_cn.models._fit_references import shipped_references_path

    if not (path / "labels.parquet").is_file():
        _fail(f"{path}: no labels.parquet (run `exafs-cn simulate --out {path}` first)")
    target = out or shipped_references_path()
    try:
        rows = write_references(Dataset(path), target)
    except _EXPECTED as exc:
        _fail(str(exc))
    typer.echo(f"{rows} reference sites -> {target}")


@dataset_app.command("e0-references")
def dataset_e0_references(
    path: Annotated[Path, typer.Argument(help="dataset folder the models were trained on")] = DEFAULT_DATA,
    models_dir: Annotated[Path, typer.Option("--models-dir", help="the models folder to write e0_references.npz into")] = ...,
    preset: Annotated[str | None, typer.Option(help="spectra of which preset (default: fast, or the dataset's only one)")] = None,
    workers: Workers = None,
) -> None:
    """The training spectra's k^2 chi(k) beside a models folder, for predict's E0 profile (train writes it too)."""
    from exafs_cn.datagen._dataset import Dataset, locate_dataset
    from exafs_cn.learn._e0_references import write_references
    from exafs_cn.models._files import MODEL_SUFFIX, ModelFileError, SavedModel
    from exafs_cn.settings import DEFAULT_SETTINGS, ProcessingSettings

    _check_output_folder(models_dir, "--models-dir")
    classifier = next(iter(sorted(models_dir.glob(f"*/rf{MODEL_SUFFIX}"))), None)
    try:
        settings = ProcessingSettings.from_dict(SavedModel.load(classifier).settings) if classifier else DEFAULT_SETTINGS
        dataset = Dataset(locate_dataset(path))
        written = write_references(dataset, models_dir, settings, preset=preset or dataset.default_preset(), workers=workers)
    except (*_EXPECTED, ModelFileError) as exc:
        _fail(str(exc))
    typer.echo(f"E0 references ({'the settings of ' + str(classifier) if classifier else 'default settings'}) -> {written}")


@dataset_app.command("bond-lengths")
def dataset_bond_lengths(
    path: Annotated[Path, typer.Argument(help="dataset folder the models were trained on, with first-shell labels")] = DEFAULT_DATA,
    models_dir: Annotated[Path, typer.Option("--models-dir", help="the models folder to write bond_lengths.npz into")] = ...,
) -> None:
    """The training pairs' first-shell distances beside a models folder, for predict's bond-length evidence (train writes it too)."""
    from exafs_cn.datagen._dataset import Dataset, locate_dataset
    from exafs_cn.learn._bond_lengths import write_bond_lengths

    _check_output_folder(models_dir, "--models-dir")
    try:
        written = write_bond_lengths(Dataset(locate_dataset(path)), models_dir)
    except _EXPECTED as exc:
        _fail(str(exc))
    typer.echo(f"bond lengths -> {written}")


def format_summary(summary: dict, preset: str) -> str:
    """The human-readable dataset summary (also used for the dataset card)."""
    stats = summary["presets"][preset]
    cns = sorted({int(cn) for counts in stats["per_element"].values() for cn in counts})
    lines = [
        f"dataset {summary['dataset']} (preset {preset})",
        f"  structures labelled: {summary['structures_labelled']}; (material, element) pairs: "
        f"{summary['pairs_labelled']}, with integer CN: {summary['pairs_with_integer_cn']}",
        f"  site spectra: {stats['sites']}; MP-style pair spectra with integer CN: {stats['spectra']}",
        f"  progress: {stats['integer_pair_sites_attempted']}/{stats['integer_pair_sites_planned']} sites of integer-CN pairs, "
        f"{stats['sites_attempted']}/{stats['sites_planned']} of all sites attempted",
        f"  FEFF run time: {stats['feff_run_hours']} core-hours ({stats['mean_seconds_per_site']} s per site, wall clock per run)",
        "",
        "  pairs per element x CN:",
        "  " + "el".ljust(4) + "".join(f"{cn:>6d}" for cn in cns) + "   total",
    ]
    for element in METALS_3D:
        counts = stats["per_element"].get(element, {})
        row = "".join(f"{counts.get(str(cn), 0):>6d}" for cn in cns)
        lines.append("  " + element.ljust(4) + row + f"{sum(counts.values()):>8d}")
    if stats.get("duplicate_sites_dropped"):
        lines.append(f"  note: {stats['duplicate_sites_dropped']} site spectra stored twice (two runs at once?) are read once")
    failures = {**summary["label_failures"], **stats["failures_by_reason"]}
    lines += ["", f"  failures: {sum(failures.values())}"]
    lines += [f"    {count:6d}  {reason}" for reason, count in failures.items()]
    return "\n".join(lines)
