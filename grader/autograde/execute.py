"""How a submission is executed: the student's cells in one sandboxed kernel, the tests in another.

nbgrader's autograde pipeline stays (gradebook, cell overwriting, ``SaveAutoGrades``, late penalties, feedback);
two of its steps are replaced, in the worker (``worker.py``) that never runs student code itself:

- :class:`RestoreLayout` (first sanitizing step): the submission rebuilt in the release's layout
  (``tamper.restore_layout``): every test, locked and task cell as released, in the release's order, the student's
  answers and own cells where they wrote them. nbgrader's ``OverwriteCells`` then finds nothing missing (its
  ``add_missing_grade_cells`` fails with ``KeyError`` when a deleted test cell follows a locked one).
- :class:`TwoKernelExecute` (instead of ``Execute``):

  1. the **student's kernel** (a sandbox, ``sandbox.py``) runs the notebook as the student sees it: their cells,
     the release's read-only cells, and for each test cell first an export step (``exchange.export``: the names
     that test reads, derived here from the test's full source by :func:`inputs_of_tests`), then the release's
     (visible) version of the test. Hidden test source never enters this process, so neither an input transformer,
     an event hook nor a print can skip, change or leak it;
  2. for an assignment whose model is the student's own (``probes.REFERENCES``' ``calls``), the **probe step**
     (:class:`ProbeStep`), after the notebook's last cell: the worker writes the secret probe images (no labels, in
     the drawn order) and its request into a folder made at that moment, then runs a cell of its own, not the
     notebook's, that calls the notebook's scoring functions on them (``exchange.probe_step``) and writes what they
     return as plain data; a function that is missing, raises, times out or kills the kernel leaves a failed test,
     with the reason, not a grading error;
  3. that kernel is shut down: its pid namespace ends and every process it started is gone; the probe images are
     removed;
  4. in the gap, for an assignment whose tests judge a model (``probes.REFERENCES``), the worker writes the secret
     probes (grading images, their labels, the reference's bar, how the probe step ended) where only the test
     kernel reads them;
  5. the **test kernel** (a second sandbox, never ran student code; the notebook's folder and the exports
     read-only; its own HOME; no folder the student wrote on ``sys.path``) runs, for each test cell, the import
     of that test's plain data (``exchange.load``) and then the test's full source (hidden tests included);
  6. the test cells get the test kernel's outputs, every other cell the student kernel's; nbgrader scores them.

What a test can use of the student's work is therefore data: arrays, numbers, strings, containers, files the
notebook wrote, objects of trusted packages rebuilt from their fields, and starter_code's sample models rebuilt
from their weights (see ``exchange.py``), and the numbers the probe step returned. A test that decides whether the
code works judges such a model, or those numbers, on ``secret_probes`` (``probes.py``): labels the student's process
never had.
"""
from __future__ import annotations

import ast
import asyncio
import builtins
import json
import os
import secrets
import shutil
import symtable
import time
from pathlib import Path

#: Names IPython defines in every kernel: never exported.
IPYTHON_NAMES = {"display", "get_ipython", "In", "Out", "exit", "quit", "_", "__", "___", "_i", "_ii", "_iii",
                 "_ih", "_oh", "_dh"}
#: What a cell that hit the per-cell timeout shows (nbgrader's own wording).
ERROR_ON_TIMEOUT = {"ename": "CellTimeoutError", "evalue": "",
                    "traceback": ["\x1b[0;31mCellTimeoutError\x1b[0m: No reply from kernel before timeout"]}


# --- what each test reads ------------------------------------------------------------------------------------

def _python(source: str) -> str:
    """Cell source as plain Python (IPython magics turned into calls)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - unparsable input: the test kernel will report it
        return source


class _TopLevelNames(ast.NodeVisitor):
    """Name reads and binds of the notebook's top level, in evaluation order (nested scopes not entered)."""

    def __init__(self):
        self.events: list[tuple[str, bool]] = []      # (name, is_read)

    def visit_Name(self, node):
        self.events.append((node.id, not isinstance(node.ctx, ast.Store)))

    def visit_Assign(self, node):
        self.visit(node.value)
        for t in node.targets:
            self.visit(t)

    def visit_AnnAssign(self, node):
        if node.value is not None:
            self.visit(node.value)
        self.visit(node.target)

    def visit_AugAssign(self, node):
        if isinstance(node.target, ast.Name):
            self.events.append((node.target.id, True))
        self.visit(node.value)
        self.visit(node.target)

    def visit_NamedExpr(self, node):
        self.visit(node.value)
        self.visit(node.target)

    def visit_For(self, node):
        self.visit(node.iter)
        self.visit(node.target)
        for n in node.body + node.orelse:
            self.visit(n)

    visit_AsyncFor = visit_For

    def visit_Import(self, node):
        for a in node.names:
            self.events.append(((a.asname or a.name).split(".")[0], False))

    def visit_ImportFrom(self, node):
        for a in node.names:
            self.events.append((a.asname or a.name, False))

    def visit_ExceptHandler(self, node):
        if node.type is not None:
            self.visit(node.type)
        if node.name:
            self.events.append((node.name, False))
        for n in node.body:
            self.visit(n)

    def _scope(self, node):
        """A function, class, lambda or comprehension: its own scope (read through symtable); def binds a name."""
        for d in getattr(node, "decorator_list", []):
            self.visit(d)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.events.append((node.name, False))
        elif isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            self.visit(node.generators[0].iter)     # evaluated in the enclosing scope

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = visit_Lambda = _scope
    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _scope


def _nested_reads(code: str) -> set[str]:
    """Names that functions, lambdas and comprehensions in ``code`` read from the module's namespace."""
    out: set[str] = set()
    stack = list(symtable.symtable(code, "<test>", "exec").get_children())
    while stack:
        t = stack.pop()
        out |= {s.get_name() for s in t.get_symbols() if s.is_global() and s.is_referenced()}
        stack += t.get_children()
    return out


def free_names(source: str) -> tuple[list[str], set[str]]:
    """(names ``source`` reads before binding them, in order; names it binds), at the notebook's top level."""
    code = _python(source)
    try:
        tree = ast.parse(code)
        nested = _nested_reads(code)
    except SyntaxError:
        return [], set()
    v = _TopLevelNames()
    for stmt in tree.body:
        v.visit(stmt)
    bound: set[str] = set()
    free: list[str] = []
    for name, read in v.events:
        if read and name not in bound and name not in free:
            free.append(name)
        elif not read:
            bound.add(name)
    free += sorted(n for n in nested if n not in bound and n not in free)
    return free, bound


def inputs_of_tests(sources: list[str]) -> list[list[str]]:
    """For each test cell (full source, in notebook order), the names to take from the student's kernel.

    Builtins and IPython's names are the test kernel's own; a name an earlier test cell binds is kept from that
    test (the student's kernel never ran the hidden part that may bind it).
    """
    skip = set(dir(builtins)) | IPYTHON_NAMES
    out, from_tests = [], set()
    for src in sources:
        free, binds = free_names(src)
        out.append([n for n in free if n not in skip and n not in from_tests and not n.startswith("__")])
        from_tests |= binds
    return out


def release_imports(release_nb) -> dict:
    """Names the release's own code cells bind by import, at top level: name -> [module, attribute or None].

    The test kernel takes modules, functions and classes from here, never from the student: a student who rebinds
    ``np`` or ``read_submission_scores`` changes nothing for the tests.
    """
    out: dict = {}

    def visit(body) -> None:
        for stmt in body:
            if isinstance(stmt, ast.Import):
                for a in stmt.names:
                    if a.asname:
                        out[a.asname] = [a.name, None]
                    else:
                        top = a.name.split(".")[0]
                        out[top] = [top, None]
            elif isinstance(stmt, ast.ImportFrom) and stmt.module and not stmt.level:
                for a in stmt.names:
                    if a.name != "*":
                        out[a.asname or a.name] = [stmt.module, a.name]
            elif isinstance(stmt, (ast.If, ast.Try)):
                visit(stmt.body)
                visit(getattr(stmt, "orelse", []))
                for h in getattr(stmt, "handlers", []):
                    visit(h.body)

    for cell in release_nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            visit(ast.parse(_python(cell.source)).body)
        except SyntaxError:
            continue
    return out


# --- kernels ----------------------------------------------------------------------------------------------------

def _kernel_manager_class():
    import zmq
    import zmq.asyncio
    from jupyter_client.manager import AsyncKernelManager

    class SandboxKernelManager(AsyncKernelManager):
        """A kernel started by an exact command (the sandbox's), over Unix sockets; the connection file is
        handed to the kernel's uid."""

        def __init__(self, *, argv, env, ids, **kw):
            super().__init__(**kw)
            from jupyter_client.kernelspec import KernelSpec
            # interrupt_mode "message": the worker cannot signal a process in another pid namespace and uid.
            self._kernel_spec = KernelSpec(argv=argv, env={}, display_name="HW8 sandbox", language="python",
                                           interrupt_mode="message", metadata={"debugger": False})
            self._launch_env, self._ids = env, ids

        def _context_default(self):
            ctx = zmq.asyncio.Context()
            # A message larger than this from a kernel drops its connection instead of the worker's memory.
            ctx.setsockopt(zmq.MAXMSGSIZE, 256 << 20)
            return ctx

        def format_kernel_cmd(self, extra_arguments=None):
            cmd = super().format_kernel_cmd(extra_arguments)
            if self._ids is not None:
                os.chown(self.connection_file, *self._ids)
            return cmd

    return SandboxKernelManager


def _client_class():
    from nbclient import NotebookClient
    from nbformat.v4 import new_output

    class CappedClient(NotebookClient):
        """nbclient with a cap on what one cell may print (kept in the worker's memory), and nbgrader's record of
        an error reply without an error output (a timeout)."""

        max_output_bytes = 1 << 20

        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self._sizes: dict[int, int] = {}

        def output(self, outs, msg, display_id, cell_index):
            used = self._sizes.get(cell_index, 0)
            if used > self.max_output_bytes:
                return None
            size = len(json.dumps(msg.get("content", {}), default=str))
            self._sizes[cell_index] = used + size
            if used + size > self.max_output_bytes:
                out = new_output("stream", name="stderr",
                                 text=f"\n[output cut by the autograder: more than {self.max_output_bytes} bytes]\n")
                outs.append(out)
                return out
            return super().output(outs, msg, display_id, cell_index)

        def handle_comm_msg(self, outs, msg, cell_index):
            return None     # widgets are not graded; their state would only grow the worker

    return CappedClient


def _on_executed(cell, cell_index, execute_reply):
    content = execute_reply.get("content", {})
    if content.get("status") != "error":
        return
    if any(o.get("output_type") == "error" and o.get("ename") == content.get("ename") for o in cell.outputs):
        return
    from nbformat.v4 import new_output
    cell.outputs.append(new_output("error", ename=content.get("ename", "Error"), evalue=content.get("evalue", ""),
                                   traceback=content.get("traceback") or [str(content.get("ename", "Error"))]))


class Kernel:
    """One kernel started by an exact command, and the notebook it executes (nbclient, cell by cell)."""

    def __init__(self, nb, *, argv, env, cwd, ids, ipc: Path, timeout: int, startup_timeout: int,
                 max_output_bytes: int):
        self.nb, self.env, self.cwd = nb, env, cwd
        self.km = _kernel_manager_class()(argv=argv, env=env, ids=ids, transport="ipc", ip=str(ipc / "k"),
                                          connection_file=str(ipc / "kernel.json"))
        self.client = _client_class()(nb, km=self.km, timeout=timeout, startup_timeout=startup_timeout,
                                      allow_errors=True, interrupt_on_timeout=True, error_on_timeout=ERROR_ON_TIMEOUT,
                                      raise_on_iopub_timeout=False, record_timing=False,
                                      shutdown_kernel="immediate", on_cell_executed=_on_executed)
        self.client.max_output_bytes = max_output_bytes

    async def start(self) -> None:
        await self.client.async_start_new_kernel(cwd=self.cwd, env=self.env)
        await self.client.async_start_new_kernel_client()

    async def run(self) -> bool:
        """Execute every code cell in place; a dead kernel ends the run with a ``DeadKernelError`` output on the
        cell it was running. Returns whether the kernel is still alive."""
        for i, cell in enumerate(self.nb.cells):
            if not await self.execute(cell, i):
                return False
        return True

    async def execute(self, cell, index: int) -> bool:
        """Execute one cell (``index``: its place, for nbclient's bookkeeping); False when the kernel died."""
        from nbclient.exceptions import DeadKernelError
        from nbformat.v4 import new_output
        try:
            await self.client.async_execute_cell(cell, index, execution_count=self.client.code_cells_executed + 1)
        except DeadKernelError:
            cell.outputs.append(new_output("error", ename="DeadKernelError", evalue="the kernel died",
                                           traceback=["DeadKernelError: the kernel died (killed for memory, "
                                                      "os._exit, or a crash in native code)"]))
            return False
        return True

    async def stop(self) -> None:
        """Kill the kernel (its sandbox's pid namespace ends with it) and close the channels."""
        try:
            if self.km.has_kernel:
                await self.km.shutdown_kernel(now=True)
        finally:
            if self.client.kc is not None:
                self.client.kc.stop_channels()


class ProbeStep:
    """The grader's step in the student's kernel after the notebook's last cell (module docstring, step 2).

    ``export``: the export folder on this side; ``export_in_kernel``: the same as the kernel sees it; ``ids``: the
    kernel's (uid, gid), None when it runs as the grader's user. :meth:`run` writes the inputs into a folder made
    then (a fresh random name: nothing of the student's can be waiting there) and runs :attr:`cell`, which is not
    the notebook's; after it :attr:`outcome` is ``ran``, ``timeout`` or ``died``, and :meth:`summary` is what the
    test kernel is told.
    """

    def __init__(self, probeset, request: dict, export: Path, export_in_kernel: str, ids, timeout: int):
        self.probeset, self.request, self.ids, self.timeout = probeset, request, ids, timeout
        self.name = f"probe-{secrets.token_hex(8)}"
        self.folder = Path(export) / self.name
        self.cell, self.fd = None, None
        self.outcome = "died"       # until the cell has run in a live kernel
        self.seconds = 0.0          # wall time of :meth:`run`: writing the inputs and running the cell
        self.source = (f"__import__('hw8_exchange').probe_step({str(Path(export_in_kernel) / self.name)!r}, "
                       f"globals())")

    async def run(self, kernel: Kernel) -> None:
        from nbformat.v4 import new_code_cell

        from grader.autograde import probes
        t0 = time.perf_counter()
        try:
            self.fd = probes.write_for_student(self.folder.parent, self.name, self.probeset, self.request, self.ids)
        except OSError:     # the student's processes replaced the new folder meanwhile: no probe step for them
            return
        self.cell = new_code_cell(self.source)
        self.cell.id = "autograder-probe-step"
        kernel.nb.cells.append(self.cell)
        alive = await kernel.execute(self.cell, len(kernel.nb.cells) - 1)
        timed_out = any(o.get("output_type") == "error" and o.get("ename") == ERROR_ON_TIMEOUT["ename"]
                        for o in self.cell.outputs)
        self.outcome = "died" if not alive else "timeout" if timed_out else "ran"
        self.seconds = time.perf_counter() - t0

    def remove_inputs(self) -> None:
        """The images and the request go once the student's kernel is gone (through the folder's descriptor: no
        link is followed); its answers stay for the tests."""
        from grader.autograde.exchange import PROBE_IMAGES, PROBE_REQUEST
        if self.fd is None:
            return
        try:
            for name in (PROBE_IMAGES, PROBE_REQUEST):
                try:
                    os.unlink(name, dir_fd=self.fd)
                except FileNotFoundError:
                    pass
        finally:
            os.close(self.fd)
            self.fd = None

    def summary(self) -> dict:
        """How the step ended, for ``probes.json``: outcome, the cell's time limit, where its answers are."""
        from grader.autograde.exchange import PROBE_OUT
        return {"outcome": self.outcome, "timeout": self.timeout, "out": f"{self.name}/{PROBE_OUT}"}


async def _student_then_tests(student: Kernel, tests: Kernel | None, between=None,
                              probe: ProbeStep | None = None) -> None:
    """The student's kernel runs and is gone before the test kernel runs a cell; the test kernel starts meanwhile
    (its sandbox shares nothing writable with the student's, and it reads nothing of theirs until it runs).
    ``probe`` runs after the student's last cell, in their kernel when it is alive; ``between()`` runs in the gap:
    after the student's last process, before the first test."""
    starting = asyncio.ensure_future(tests.start()) if tests is not None else None
    try:
        await student.start()
        try:
            alive = await student.run()
            if probe is not None and alive:
                await probe.run(student)
        finally:
            await student.stop()
            if probe is not None:
                probe.remove_inputs()
        if tests is not None:
            if between is not None:
                between()
            await starting
            await tests.run()
    finally:
        if starting is not None:
            if not starting.done():
                starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
            await tests.stop()


# --- the plan of one notebook ----------------------------------------------------------------------------------

def _is_test(cell) -> bool:
    md = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and bool(md.get("grade")) and not md.get("solution")


def _grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def student_notebook(nb, release_nb, export_dir: str):
    """(notebook for the student's kernel, [(kind, index in ``nb``)], names per test index).

    Every cell with a grade id that is not the student's answer comes from the release (``nb`` holds the
    source's version of test cells after nbgrader's OverwriteCells, hidden tests included: never sent).
    """
    import copy

    from nbformat.v4 import new_code_cell
    released = {_grade_id(c): c for c in release_nb.cells if _grade_id(c)}
    tests = [i for i, c in enumerate(nb.cells) if _is_test(c)]
    names = dict(zip(tests, inputs_of_tests([nb.cells[i].source for i in tests])))
    out = copy.deepcopy(nb)
    cells, index = [], []
    for i, cell in enumerate(nb.cells):
        gid = _grade_id(cell)
        md = cell.get("metadata", {}).get("nbgrader", {})
        mine = copy.deepcopy(cell)
        if gid is not None and not (md.get("solution") and not md.get("locked")):
            mine.source = released[gid].source if gid in released else ""
        if i in names:
            cells.append(new_code_cell(f"import hw8_exchange\nhw8_exchange.export({i}, {names[i]!r}, globals(), "
                                       f"{export_dir!r})"))
            index.append(("export", i))
        cells.append(mine)
        index.append(("cell", i))
    out.cells = cells
    for j, c in enumerate(out.cells):
        c.id = f"run-{j}"
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
    return out, index, names


def tests_notebook(nb, names: dict, export_dir: str, work_dir: str, code: dict | None = None):
    """(notebook for the test kernel, [(kind, index in ``nb``)]): per test, the data import then the full test.

    ``code``: :func:`release_imports` of the release."""
    import copy

    from nbformat.v4 import new_code_cell
    out = copy.deepcopy(nb)
    cells, index = [], []
    for i, names_i in names.items():
        code_i = {n: (code or {})[n] for n in names_i if n in (code or {})}
        cells.append(new_code_cell(f"__import__('hw8_exchange').load({i}, {names_i!r}, globals(), {export_dir!r}, "
                                   f"workdir={work_dir!r}, code={code_i!r})"))
        index.append(("load", i))
        test = copy.deepcopy(nb.cells[i])
        test.outputs, test.execution_count = [], None
        cells.append(test)
        index.append(("test", i))
    out.cells = cells
    for j, c in enumerate(out.cells):
        c.id = f"test-{j}"
    return out, index


# --- nbgrader preprocessors --------------------------------------------------------------------------------------

def _preprocessors():
    from nbgrader.preprocessors import NbGraderPreprocessor
    from traitlets import Dict, Integer, Unicode

    class RestoreLayout(NbGraderPreprocessor):
        """Rebuild the submission in the release's layout (see ``tamper.restore_layout``)."""
        release_dir = Unicode("", help="COURSE/release: the released notebooks").tag(config=True)

        def preprocess(self, nb, resources):
            import nbformat

            from grader.autograde.tamper import restore_layout
            a, name = resources["nbgrader"]["assignment"], resources["nbgrader"]["notebook"]
            rel = nbformat.read(str(Path(self.release_dir) / a / f"{name}.ipynb"), as_version=4)
            nb, findings = restore_layout(rel, nb)
            for f in findings:
                self.log.warning("%s: %s", name, f)
            return nb, resources

    class TwoKernelExecute(NbGraderPreprocessor):
        """Run the student's cells and the tests in two sandboxed kernels (module docstring)."""
        timeout = Integer(120, help="Seconds one cell may run.").tag(config=True)
        startup_timeout = Integer(120, help="Seconds a kernel may take to start.").tag(config=True)
        sandbox = Dict(help="grader.autograde.sandbox.SandboxConfig as a dict.").tag(config=True)
        data_dir = Unicode("", help="Grading data folder (only its .npy files are bound).").tag(config=True)
        release_dir = Unicode("", help="COURSE/release: the released notebooks and files.").tag(config=True)
        boot_dir = Unicode("", help="This worker's boot folder (launcher, exchange module).").tag(config=True)
        scratch_dir = Unicode("", help="Where per-notebook scratch folders are made (default: temp).").tag(
            config=True)
        course_dir = Unicode("", help="The course folder: the secret probe seed and the reference's scores "
                                      "(probes.py; default: the release folder's parent).").tag(config=True)
        max_output_bytes = Integer(1 << 20, help="Output kept per cell.").tag(config=True)

        def preprocess(self, nb, resources):
            import nbformat

            from grader.autograde import exchange, probes
            from grader.autograde import sandbox as sb
            a, name = resources["nbgrader"]["assignment"], resources["nbgrader"]["notebook"]
            rel_dir = Path(self.release_dir) / a
            release_nb = nbformat.read(str(rel_dir / f"{name}.ipynb"), as_version=4)
            cfg = sb.SandboxConfig.from_dict(dict(self.sandbox))
            boot = _boot(self.boot_dir, cfg)
            data = Path(self.data_dir) if self.data_dir else None
            t0 = time.perf_counter()
            judged = probes.prepare(a, data, self.course_dir or Path(self.release_dir).parent,
                                    smoke=str(cfg.env.get("HW8_SMOKE", "")).lower() in ("1", "true", "yes", "on"))
            if judged is not None:
                self.log.info("%s: secret probes %.2f s", name, time.perf_counter() - t0)
            if self.scratch_dir:
                Path(self.scratch_dir).mkdir(parents=True, exist_ok=True)
            scratch = sb.Scratch(cfg, Path(self.scratch_dir) if self.scratch_dir else None)
            try:
                copy_release_files(rel_dir, scratch.work)
                work, export = sb.paths_for(cfg, scratch)
                s_nb, s_index, names = student_notebook(nb, release_nb, export)
                nbformat.write(s_nb, str(scratch.work / f"{name}.ipynb"))
                boot.seed_home(scratch.home_student)
                boot.seed_home(scratch.home_tests)
                scratch.hand_over()
                t_nb, t_index = tests_notebook(nb, names, export, work, release_imports(release_nb))
                step = None
                if judged is not None and judged[1].get("request"):
                    step = ProbeStep(judged[0], judged[1]["request"], scratch.export, export, scratch.ids,
                                     self.timeout)

                def between():
                    meta = {**judged[1], "probe_step": step.summary() if step is not None else {"outcome": "skipped"}}
                    probes.write_for_tests(scratch.export / exchange.GRADER_FOLDER, judged[0], meta)

                t0 = time.perf_counter()
                asyncio.run(_student_then_tests(
                    self._kernel(s_nb, cfg, scratch, boot, data, tests=False),
                    self._kernel(t_nb, cfg, scratch, boot, data, tests=True) if names else None,
                    None if judged is None else between, step))
                self.log.info("%s: both kernels %.2f s", name, time.perf_counter() - t0)
                if step is not None:
                    self.log.info("%s: probe step %.2f s (%s)", name, step.seconds, step.outcome)
                for (kind, i), cell in zip(s_index, s_nb.cells):
                    if kind == "cell" and i not in names and cell.cell_type == "code":
                        nb.cells[i].outputs, nb.cells[i].execution_count = cell.outputs, cell.execution_count
                loads = {}
                for (kind, i), cell in zip(t_index, t_nb.cells):
                    if kind == "load":
                        loads[i] = list(cell.outputs)
                    else:
                        nb.cells[i].outputs = loads.get(i, []) + list(cell.outputs)
                        nb.cells[i].execution_count = cell.execution_count
            finally:
                scratch.cleanup()
            return nb, resources

        def _kernel(self, nb, cfg, scratch, boot, data, *, tests: bool) -> Kernel:
            from grader.autograde import sandbox as sb
            argv, env, cwd = sb.kernel_command(cfg, scratch, boot, tests=tests, data_dir=data)
            return Kernel(nb, argv=argv, env=env if not cfg.enabled else {"PATH": "/usr/bin:/bin"}, cwd=cwd,
                           ids=scratch.ids, ipc=scratch.ipc_for(tests), timeout=self.timeout,
                           startup_timeout=self.startup_timeout, max_output_bytes=self.max_output_bytes)

    return RestoreLayout, TwoKernelExecute


_BOOTS: dict = {}


def _boot(boot_dir: str, cfg):
    """The worker's boot folder, made once per (folder, sandbox settings)."""
    from grader.autograde.sandbox import Boot, make_boot_dir
    key = (boot_dir, json.dumps(cfg.to_dict(), sort_keys=True))
    if key not in _BOOTS:
        _BOOTS[key] = Boot(Path(boot_dir) if boot_dir else make_boot_dir(), cfg)
    return _BOOTS[key]


def copy_release_files(src: Path, dest: Path) -> None:
    """The release's other files (never notebooks) into the notebook's folder: what the student had beside it."""
    if not src.is_dir():
        return
    for p in src.rglob("*"):
        if p.is_symlink() or not p.is_file() or p.suffix == ".ipynb":
            continue
        target = dest / p.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, target)


def nbgrader_config(*, sandbox: dict, cell_timeout: int, release_dir: Path, data_dir: Path | None,
                    boot_dir: Path | None = None, scratch_dir: Path | None = None, startup_timeout: int = 120,
                    course_dir: Path | None = None) -> dict:
    """nbgrader config entries (``Class.trait`` -> value) that make ``autograde`` use the two kernels.

    ``course_dir`` (default: ``release_dir``'s parent) keeps the secret probe seed and the reference's scores."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput, DeduplicateIds,
                                        IgnorePattern, LimitOutput, OverwriteCells, OverwriteKernelspec,
                                        SaveAutoGrades)
    restore, execute = _preprocessors()
    return {
        "Autograde.sanitize_preprocessors": [restore, ClearOutput, DeduplicateIds, OverwriteKernelspec,
                                             OverwriteCells, CheckCellMetadata],
        "Autograde.autograde_preprocessors": [execute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                              SaveAutoGrades, AssignLatePenalties, CheckCellMetadata],
        "RestoreLayout.release_dir": str(release_dir),
        "TwoKernelExecute.release_dir": str(release_dir),
        "TwoKernelExecute.sandbox": dict(sandbox),
        "TwoKernelExecute.timeout": int(cell_timeout),
        "TwoKernelExecute.startup_timeout": int(startup_timeout),
        "TwoKernelExecute.data_dir": str(data_dir) if data_dir else "",
        "TwoKernelExecute.boot_dir": str(boot_dir) if boot_dir else "",
        "TwoKernelExecute.scratch_dir": str(scratch_dir) if scratch_dir else "",
        "TwoKernelExecute.course_dir": str(course_dir) if course_dir else "",
    }
