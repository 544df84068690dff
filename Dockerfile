# The course in a container: JupyterLab on port 8888.
#   docker build -t automl-course .
#   docker run --rm -p 8888:8888 automl-course
# Python 3.11 (as environment.yml and the Makefile), a Java runtime for H2O, the one lock file.
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless make \
 && rm -rf /var/lib/apt/lists/*

# A non-root user; uid 1000 as Binder expects.
ARG NB_USER=learner
ARG NB_UID=1000
RUN useradd --create-home --uid ${NB_UID} ${NB_USER}

ENV KERAS_BACKEND=torch \
    RAY_AUTH_MODE=disabled \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:${PATH}

# Dependencies first, so that editing the course does not reinstall them.
COPY requirements.lock /tmp/requirements.lock
RUN python -m venv /opt/venv \
 && pip install --requirement /tmp/requirements.lock

WORKDIR /home/${NB_USER}/course
COPY . .
RUN pip install --no-deps --no-build-isolation --editable . \
 && chown -R ${NB_USER} /home/${NB_USER}

USER ${NB_USER}
EXPOSE 8888
CMD ["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--no-browser", "--notebook-dir=/home/learner/course"]
