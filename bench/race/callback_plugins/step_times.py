# Per-host task durations for the race (bench/race.ts): one JSON line per host and task, from the
# moment the task started on that host to its result, appended to $RACE_STEP_TIMES.
import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'step_times'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._started = {}
        self._out = open(os.environ['RACE_STEP_TIMES'], 'a', encoding='utf-8')

    def v2_runner_on_start(self, host, task):
        self._started[(host.get_name(), task._uuid)] = time.monotonic()

    def _done(self, result):
        key = (result._host.get_name(), result._task._uuid)
        began = self._started.pop(key, None)
        if began is None:
            return
        self._out.write(json.dumps({
            'host': key[0],
            'task': result._task.get_name(),
            'ms': (time.monotonic() - began) * 1000,
        }) + '\n')
        self._out.flush()

    def v2_runner_on_ok(self, result):
        self._done(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._done(result)

    def v2_runner_on_unreachable(self, result):
        self._done(result)
