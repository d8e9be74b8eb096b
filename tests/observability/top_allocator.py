# A program for the `hugeshim top` tests, driven line by line on stdin:
#   alloc N   allocate and free N buffers of 8 MiB, answer "ok"
#   start     allocate and free 8 MiB buffers on a thread, ~100 a second, answer "ok"
#   stop      stop that thread, answer "ok"
import sys
import threading
import time

running = threading.Event()


def churn():
    while running.is_set():
        buffer = bytearray(8 << 20)
        del buffer
        time.sleep(0.01)


thread = None
for line in sys.stdin:
    words = line.split()
    if words[0] == "alloc":
        for _ in range(int(words[1])):
            buffer = bytearray(8 << 20)
            del buffer
    elif words[0] == "start":
        running.set()
        thread = threading.Thread(target=churn)
        thread.start()
    elif words[0] == "stop":
        running.clear()
        thread.join()
    print("ok", flush=True)
