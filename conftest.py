"""For every test run (tests/ and the notebooks): tests never reach the internet. Real model requests
are refused unless they go to 127.0.0.1, and no key reaches a kernel, so everything runs offline."""

import os

os.environ["LOOM_NB_ONLY_LOCAL_MODELS"] = "1"
for _key in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
    os.environ.pop(_key, None)
