"""insarhub:submitjobs: submit pairs to HyP3, cost first, never twice."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from .base import InsarhubAlgorithm, with_help
from .features import read_records
from .hyp3_common import auth_parameter, connect_client, warn_temporary_jobs_file

JOB_TYPES = ("INSAR_GAMMA", "INSAR_ISCE_BURST", "INSAR_ISCE_MULTI_BURST")
LOOKS = ("20x4", "10x2", "5x1")
# (parameter, HyP3 job option, default, help, advanced). MintPy needs the DEM and look vectors,
# so those default to on (HyP3's own default is off).
BOOLEAN_OPTIONS = [
    ("INCLUDE_DEM", "include_dem", True, "Include the DEM (MintPy's geometry needs it).", False),
    ("INCLUDE_LOOK_VECTORS", "include_look_vectors", True, "Include look vectors (incidence and azimuth angle for MintPy).", False),
    ("INCLUDE_INC_MAP", "include_inc_map", False, "Include the incidence angle map.", False),
    ("INCLUDE_WRAPPED_PHASE", "include_wrapped_phase", False, "Include the wrapped phase.", False),
    ("APPLY_WATER_MASK", "apply_water_mask", False, "Mask water before unwrapping.", False),
    ("INCLUDE_DISPLACEMENT_MAPS", "include_displacement_maps", False, "Include line-of-sight and vertical displacement maps.", True),
]


class SubmitJobsAlgorithm(InsarhubAlgorithm):
    NAME = "submitjobs"
    DISPLAY_NAME = "Submit pairs to HyP3"
    GROUP = "3 HyP3"
    GROUP_ID = "hyp3"
    REQUIRES = ("hyp3_sdk",)

    PAIRS = "PAIRS"
    JOB_TYPE = "JOB_TYPE"
    LOOKS = "LOOKS"
    PHASE_FILTER_PARAMETER = "PHASE_FILTER_PARAMETER"
    PROJECT_NAME = "PROJECT_NAME"
    DRY_RUN = "DRY_RUN"
    JOBS_FILE = "JOBS_FILE"
    SUBMITTED = "SUBMITTED"
    CREDITS = "CREDITS"
    REMAINING_CREDITS = "REMAINING_CREDITS"

    def initAlgorithm(self, config: dict | None = None) -> None:  # noqa: N802
        self.addParameter(
            with_help(
                QgsProcessingParameterFeatureSource(self.PAIRS, "Pairs", [QgsProcessing.SourceType.TypeVector]),
                "Pairs from insarhub:selectpairs (reference and secondary scene or burst names).",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterEnum(self.JOB_TYPE, "Job type", options=list(JOB_TYPES), defaultValue="INSAR_GAMMA", usesStaticStrings=True),
                "INSAR_GAMMA for SLC pairs, INSAR_ISCE_BURST for single-burst pairs, INSAR_ISCE_MULTI_BURST for "
                "multi-burst pairs.",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterEnum(self.LOOKS, "Looks", options=list(LOOKS), defaultValue="20x4", usesStaticStrings=True),
                "Range x azimuth looks: 20x4 gives 80 m pixels, 10x2 40 m (INSAR_GAMMA: 15 credits instead of 10), "
                "5x1 20 m (burst jobs only).",
            )
        )
        for name, _option, default, helptext, advanced in BOOLEAN_OPTIONS:
            parameter = with_help(QgsProcessingParameterBoolean(name, name.replace("_", " ").capitalize(), defaultValue=default), helptext)
            if advanced:
                parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
            self.addParameter(parameter)
        phase = with_help(
            QgsProcessingParameterNumber(
                self.PHASE_FILTER_PARAMETER, "Phase filter parameter", QgsProcessingParameterNumber.Type.Double, defaultValue=0.6, minValue=0, maxValue=1
            ),
            "Adaptive phase filter strength for INSAR_GAMMA (0 to 1).",
        )
        phase.setFlags(phase.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
        self.addParameter(phase)
        self.addParameter(
            with_help(
                QgsProcessingParameterString(self.PROJECT_NAME, "Project name", defaultValue="insarhub"),
                "Prefix of every job name on HyP3 (each job is named <project>_<hash of its pair and options>, "
                "which is how reruns recognise jobs already submitted).",
            )
        )
        self.addParameter(auth_parameter())
        self.addParameter(
            with_help(
                QgsProcessingParameterBoolean(self.DRY_RUN, "Dry run (cost only)", defaultValue=False),
                "Report the cost and the remaining credits and let HyP3 validate the jobs; submit nothing, write nothing.",
            )
        )
        self.addParameter(
            with_help(
                QgsProcessingParameterFileDestination(self.JOBS_FILE, "Jobs file", "JSON files (*.json)"),
                "Where the jobs are tracked (JSON): every job id of every pair, status, expiry and downloads. "
                "Rerun with the same file to resume; it never holds a password or token.",
            )
        )
        self.addOutput(QgsProcessingOutputNumber(self.SUBMITTED, "Jobs submitted by this run"))
        self.addOutput(QgsProcessingOutputNumber(self.CREDITS, "Credits spent by this run (dry run: that would be)"))
        self.addOutput(QgsProcessingOutputNumber(self.REMAINING_CREDITS, "Remaining credits"))

    def execute(self, parameters: dict, context: Any, feedback: Any) -> dict[str, Any]:
        from ..core.hyp3 import load_job_specs, plan_jobs, preview_cost, submit_jobs

        job_type = self.parameterAsEnumString(parameters, self.JOB_TYPE, context)
        accepted = set(load_job_specs()[job_type]["parameters"])
        options: dict[str, Any] = {"looks": self.parameterAsEnumString(parameters, self.LOOKS, context)}
        for name, option, _default, _help, _advanced in BOOLEAN_OPTIONS:
            options[option] = self.parameterAsBool(parameters, name, context)
        options["phase_filter_parameter"] = self.parameterAsDouble(parameters, self.PHASE_FILTER_PARAMETER, context)
        # Options of the other job types do not apply (e.g. INCLUDE_DEM for burst jobs).
        options = {k: v for k, v in options.items() if k in accepted}

        source = self.input_source(parameters, self.PAIRS, context)
        if source is None:
            raise QgsProcessingException(self.invalidSourceError(parameters, self.PAIRS))
        missing = [f for f in ("reference", "secondary") if f not in source.fields().names()]
        if missing:
            raise QgsProcessingException(
                f"The pairs layer lacks {', '.join(missing)}: use the output of insarhub:selectpairs."
            )
        pairs = [(r["reference"], r["secondary"]) for r, _ in read_records(source, context)]
        if not pairs:
            raise QgsProcessingException("The pairs layer is empty: there is nothing to submit.")
        project = self.parameterAsString(parameters, self.PROJECT_NAME, context)
        plan = plan_jobs(pairs, job_type, options, project)
        for note in plan.notes:
            feedback.pushInfo(note)

        dry_run = self.parameterAsBool(parameters, self.DRY_RUN, context)
        jobs_file = self.parameterAsFileOutput(parameters, self.JOBS_FILE, context)
        warn_temporary_jobs_file(jobs_file, feedback)
        client = connect_client(self, parameters, context, feedback)
        preview = preview_cost(plan, client, jobs_file)
        feedback.pushInfo(preview.message())
        if not preview.enough_credits:
            raise QgsProcessingException(
                f"Not submitted: the jobs would cost {preview.cost:g} credits but only "
                f"{preview.remaining_credits:g} remain. Select fewer pairs, use cheaper options, or wait for "
                "next month's credits."
            )
        result = submit_jobs(
            plan,
            jobs_file,
            client,
            dry_run=dry_run,
            progress=lambda done, total: feedback.setProgress(100.0 * done / max(total, 1)),
            on_message=feedback.pushInfo,
        )
        for note in result.notes:
            feedback.pushInfo(note)
        remaining = -1 if result.remaining_credits is None else result.remaining_credits
        if dry_run:
            feedback.pushInfo(f"Dry run: nothing submitted. {preview.message()}")
        else:
            feedback.pushInfo(
                f"Submitted {result.submitted} job(s) for {result.cost:g} credits; {result.already_submitted} pair(s) "
                f"already had a job, {result.adopted} found on HyP3 and recorded. Jobs file: {jobs_file}"
            )
        outputs: dict[str, Any] = {
            self.SUBMITTED: result.submitted,
            self.CREDITS: result.cost,
            self.REMAINING_CREDITS: remaining,
        }
        if not dry_run:
            outputs[self.JOBS_FILE] = jobs_file
        return outputs
