"""``python -m sandbox``: run the SANDBOX until Ctrl-C and print how to point QGIS at it."""

from __future__ import annotations

import signal
import threading

from .server import Sandbox


def main() -> None:
    with Sandbox() as sandbox:
        print("InSARHub SANDBOX running (a local emulator of ASF's CMR and HyP3; nothing here is real data).")
        print("Point InSARHub at it (in the shell that starts QGIS, or in the InSARHub options):")
        for key, value in sandbox.env.items():
            print(f"  export {key}={value}")
        print("Ctrl-C stops it.")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
