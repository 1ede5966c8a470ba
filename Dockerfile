# One image for the API, workers and the scheduler.
FROM python:3.11-slim-bookworm

# System ffmpeg (preferred when present) and a CJK font for burned-in Chinese titles.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg fonts-noto-cjk curl libgl1 libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY backend backend
COPY workers workers
COPY storage storage
COPY presets presets
RUN pip install --no-cache-dir .

RUN useradd --create-home --uid 10001 reelhouse && mkdir -p /data && chown reelhouse /data
USER reelhouse
ENV REELHOUSE_DATA_DIR=/data \
    REELHOUSE_CJK_FONT_PATH=/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
EXPOSE 8000
ENTRYPOINT ["reelhouse"]
CMD ["serve", "--host", "0.0.0.0", "--no-with-worker"]
