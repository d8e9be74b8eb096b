# The recorded workload of the timeline tests (Perfetto export, HTML report):
# two processes (a fork), four threads each, every thread allocating and
# freeing 8 MiB buffers (full huge pages) and 1.5 MiB ones (below a 2 MiB
# page: recorded with a fallback reason). An optional argument is appended
# to nothing but the command line, so tests can put hostile text there.
import os
import threading
import time

time.sleep(0.2)  # the collector sees the process alive and reads its maps


def worker(rounds):
    for _ in range(rounds):
        big = bytearray(8 << 20)
        del big
        small = bytearray(3 << 19)
        del small


def run_threads():
    threads = [threading.Thread(target=worker, args=(3,)) for _ in range(3)]
    for t in threads:
        t.start()
    worker(2)
    for t in threads:
        t.join()


child = os.fork()
run_threads()
if child == 0:
    os._exit(0)
os.waitpid(child, 0)
