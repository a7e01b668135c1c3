import { type FileHandle, open } from 'node:fs/promises';
import { isUniverse } from '../config/config.ts';
import { checkRecordingFile } from './check-recording-file.ts';
import { fileChunks } from './file-chunks.ts';
import { metaProblem } from './meta-problem.ts';
import { RecordedAnswers } from './recorded-answers.ts';
import { RecordedSeries } from './recorded-series.ts';
import { fsReason, RecordingFileError } from './recording-file-error.ts';
import type { RecordLine } from './recording-format.ts';
import { scanRecording } from './scan-recording.ts';

/** Past this share of malformed lines (in a file of at least MIN_LINES_JUDGED) a file is no recording: a cut or a stray line is one. */
const MAX_MALFORMED_SHARE = 0.9;
const MIN_LINES_JUDGED = 10;

export interface OpenRecording {
  /** Still open, for the frames' read as they play; the caller closes it. */
  fh: FileHandle;
  meta: Extract<RecordLine, { k: 'meta' }>;
  answers: RecordedAnswers;
  /** The series it holds bars of (REST rows and frames), with their oldest bar and their streams. */
  series: RecordedSeries;
  /** Frames counted (not kept). */
  frames: number;
  /** Complete lines read, records and malformed: the frames' read stops there. */
  lines: number;
  /** Malformed lines, REST questions no engine could have asked among them. */
  malformed: number;
  /** Set when the gzip stream stops early (a recorder killed mid-write): why. */
  endedEarly?: string;
}

/**
 * A replay's first pass over its recording: reads it through, keeping the meta line and the REST
 * answers (every one must be answerable from the start) and only counting the frames, which are read
 * again as they play, from the same descriptor (so from the file read here, even if it is renamed or
 * replaced meanwhile). Throws RecordingFileError when the file cannot be replayed: missing, not a
 * regular file, empty, not gzip, no meta line or one that names no valid series, an unknown format
 * version, or nothing to play: no frame and no REST answer, almost every line malformed, or (recorded
 * with SYMBOLS=*) no bar of any symbol (a replay of it served nothing).
 */
export async function openRecording(path: string): Promise<OpenRecording> {
  await checkRecordingFile(path, { rereadable: true });
  const fh = await open(path).catch((e: unknown) => {
    throw new RecordingFileError(path, `cannot read it: ${fsReason(e)}`, { cause: e });
  });
  try {
    let meta: OpenRecording['meta'] | undefined;
    let frames = 0;
    let answered = 0;
    let badQuestions = 0;
    const answers = new RecordedAnswers();
    const series = new RecordedSeries();
    const scan = await scanRecording(path, fileChunks(fh), (l) => {
      if (l.k === 'ws') {
        frames++;
        series.addFrame(l.d);
      } else if (l.k === 'rest') {
        if (answers.add(l)) answered++;
        else badQuestions++;
      } else meta ??= l;
    });
    if (!meta) throw new RecordingFileError(path, 'it has no meta line');
    const problem = metaProblem(meta);
    if (problem) throw new RecordingFileError(path, problem);
    const malformed = scan.malformed + badQuestions;
    if (frames === 0 && answered === 0) throw new RecordingFileError(path, `it holds nothing to play: no frames and no REST answers (${malformed} malformed lines)`);
    if (scan.lines >= MIN_LINES_JUDGED && malformed > scan.lines * MAX_MALFORMED_SHARE) {
      throw new RecordingFileError(path, `${malformed} of its ${scan.lines} lines are malformed: not a recording this engine reads`);
    }
    for (const r of answers.oldestRows()) series.add(r.symbol, r.interval, r.openTime);
    if (isUniverse(meta.symbols) && series.symbols().length === 0) throw new RecordingFileError(path, "its meta line says '*' (the whole exchange) and it holds no bar of any symbol: nothing to play");
    return { fh, meta, answers, series, frames, lines: scan.lines, malformed, endedEarly: scan.endedEarly };
  } catch (e) {
    await fh.close();
    throw e;
  }
}
