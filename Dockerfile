# The app in one container, on the CPU:
#   docker build -t rwkv-explained .
#   docker run --rm -p 8501:8501 rwkv-explained          # then open http://localhost:8501
# On an NVIDIA host, a CUDA build of torch instead of the CPU one (the engine uses the GPU by itself):
#   docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 -t rwkv-explained:cuda .
#   docker run --rm --gpus all -p 8501:8501 rwkv-explained:cuda
# (pick the cuXXX index that matches the host's driver, see pytorch.org; the image stays python:3.11-slim,
# the CUDA wheels bring their own runtime libraries.) See README, "Deploying for a class".
FROM python:3.11-slim

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HOME=/home/app/.cache/huggingface

RUN useradd --create-home --uid 10001 app
WORKDIR /app

# torch first, from the chosen index (the CPU one by default, a cuXXX one for a GPU image);
# requirements.txt then finds its torch==2.13.0 already installed and keeps it (on its own it would
# also pick the CPU build: it names the CPU index, see README "Quick start"). Its last line, `-e .`
# (this project's own packages, pyproject.toml), needs the source, which comes later: the libraries
# are installed without it here, so that this layer is rebuilt only when requirements.txt changes.
COPY requirements.txt .
RUN pip install --index-url "$TORCH_INDEX" torch==2.13.0 \
 && grep -v '^-e ' requirements.txt > /tmp/libraries.txt \
 && pip install -r /tmp/libraries.txt

# the app, the engine, the lessons and the embedded model (.dockerignore leaves out the rest), then
# the project's packages installed in place (requirements.txt's `-e .`; the libraries are already in)
COPY --chown=app:app . .
RUN pip install --no-deps -e .
USER app

EXPOSE 8501
# Streamlit answers "ok" here once it serves; python, because the slim image has no curl
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).read() != b'ok')"

CMD ["streamlit", "run", "app/streamlit_app.py", "--server.address=0.0.0.0", "--server.port=8501", \
     "--server.headless=true"]
