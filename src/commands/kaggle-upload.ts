import type { Command } from 'commander'
import { existsSync, statSync } from 'node:fs'
import { relative, resolve } from 'node:path'
import { UsageError } from '../lib/errors.js'
import { fmtBytes, fmtNum, globals, intOption, printJson, printTable, progressLine } from './common.js'

interface KaggleUploadOptions {
  dataset?: string
  title?: string
  subtitle?: string
  license?: string
  keywords?: string[]
  public?: boolean
  notes?: string
  check?: boolean
  kernel?: string
  accelerator?: string
  sessionTimeout?: number
  wait?: boolean
  yes?: boolean
  apiUrl?: string
  chunkMib: number
  dirMode: string
}

function list(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((s) => s.trim()).filter(Boolean)]
}

const DATASET_ONLY = ['dataset', 'title', 'subtitle', 'license', 'keywords', 'public', 'notes', 'check'] as const
const KERNEL_ONLY = ['accelerator', 'sessionTimeout', 'wait'] as const
const flagOf = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`

/** A path relative to the working folder when it lies inside it, else absolute. */
function shownPath(p: string): string {
  const r = relative(process.cwd(), p)
  return r && !r.startsWith('..') ? r : p
}

function duration(ms: number): string {
  const s = Math.round(ms / 1000)
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
}

export function registerKaggleUpload(program: Command): void {
  program
    .command('kaggle-upload')
    .description('publish a dataset folder (new dataset or version, resumable) or a kernel to Kaggle; a dry run unless --yes')
    .argument('[dir]', 'dataset folder: every file at its top is uploaded (sub-folders and hidden files are not)')
    .option('--dataset <owner/slug>', 'dataset id, e.g. alice/btc-lob-l10 (default: "id" of an existing dataset-metadata.json)')
    .option('--title <title>', 'dataset title, 6 to 50 characters (default: dataset-metadata.json, else the README.md heading, else the slug)')
    .option('--subtitle <text>', 'dataset subtitle, 20 to 80 characters')
    .option('--license <name>', 'exactly one licence, e.g. CC0-1.0, CC-BY-4.0, CC-BY-SA-4.0, ODbL-1.0 (default CC0-1.0)')
    .option('--keywords <tags>', 'comma-separated Kaggle tags (unknown ones are dropped by Kaggle and reported)', list)
    .option('--public', 'make a new dataset public (default private; a new version keeps the dataset as it is)')
    .option('--notes <text>', 'version notes when the dataset already exists')
    .option('--dir-mode <mode>', 'sub-folders (such as convert-lob\'s npy/): zip uploads each as <folder>.zip, which Kaggle unpacks; skip leaves them out', 'zip')
    .option('--check', 'dry run only: also ask Kaggle, read-only, whether the credentials work and the dataset exists')
    .option('--kernel <dir>', 'push the kernel described by <dir>/kernel-metadata.json instead of a dataset')
    .option('--accelerator <id>', 'kernel machine shape, e.g. TpuV5E8, TpuV6E8, NvidiaTeslaT4 (default: machine_shape of the metadata)')
    .option('--session-timeout <seconds>', 'kernel run time limit, seconds', intOption('--session-timeout'))
    .option('--wait', 'after a kernel push, poll its session until COMPLETE or ERROR (exit 1 on ERROR)')
    .option('--yes', 'send for real; without it the plan is printed and nothing is sent or written')
    .option('--api-url <url>', 'Kaggle API root (env MERCURY_KAGGLE_API_URL, default https://api.kaggle.com)')
    .option('--chunk-mib <n>', 'MiB per upload request; an interrupted file resumes from the last byte Kaggle holds', intOption('--chunk-mib'), 8)
    .addHelpText(
      'after',
      `
Datasets: writes <dir>/dataset-metadata.json (title, id, subtitle, the README.md text as description, one licence,
keywords, a resource per file with the Parquet columns from manifest.json), asks GetDatasetStatus whether the
dataset exists (then a new version, else a new dataset), uploads each file in chunks to a resumable session, and
calls CreateDataset or CreateDatasetVersion. The sessions are kept in <dir>/.kaggle-upload.json until it succeeds:
after a crash or Ctrl-C, run the same command again and only the missing bytes are sent.

Kernels: validates kernel-metadata.json (title of 5+ characters whose slug is the id's, code_file, language,
kernel_type), sends SaveKernel and prints the kernel URL and version; --wait polls the run.

Without --yes nothing is sent, not even a read-only request, and nothing is written; --check adds the read-only
requests (IntrospectToken or GetDatasetStatus) to the dry run.

Credentials, in the Kaggle CLI's order: KAGGLE_API_TOKEN (the token or a file holding it), ~/.kaggle/access_token,
KAGGLE_USERNAME + KAGGLE_KEY, kaggle.json in $KAGGLE_CONFIG_DIR or ~/.kaggle (or $XDG_CONFIG_HOME/kaggle). A
credential file that group or others can access is refused: chmod 600 it. Secrets are never printed.

Examples:
  $ mercury kaggle-upload out/btc-lob --dataset alice/btc-lob-l10 --title "BTC order book L10"
  $ mercury kaggle-upload out/btc-lob --dataset alice/btc-lob-l10 --check
  $ mercury kaggle-upload out/btc-lob --dataset alice/btc-lob-l10 --notes "March data" --yes
  $ mercury kaggle-upload out/btc-lob --dataset alice/btc-lob-l10 --dir-mode skip --yes   (leave npy/ out)
  $ mercury kaggle-upload --kernel kaggle/ --accelerator TpuV5E8
  $ mercury kaggle-upload --kernel kaggle/ --accelerator TpuV5E8 --yes --wait --json`,
    )
    .action(async (dirArg: string | undefined, opts: KaggleUploadOptions, cmd: Command) => {
      const g = globals(cmd)
      const given = (k: string) => cmd.getOptionValueSource(k) === 'cli'
      if (opts.kernel !== undefined) {
        if (dirArg !== undefined) throw new UsageError(`Invalid <dir>: '${dirArg}'. Expected no dataset folder with --kernel`)
        for (const k of DATASET_ONLY) if (given(k)) throw new UsageError(`Invalid ${flagOf(k)} with --kernel: it applies to datasets only`)
      } else {
        if (dirArg === undefined) throw new UsageError('Missing <dir>: pass a dataset folder, or --kernel <dir> to push a kernel')
        for (const k of KERNEL_ONLY) if (given(k)) throw new UsageError(`Invalid ${flagOf(k)} without --kernel: it applies to kernels only`)
        if (!existsSync(dirArg) || !statSync(dirArg).isDirectory()) throw new UsageError(`Invalid <dir>: '${dirArg}' is not a folder`)
      }
      if (opts.check && opts.yes) throw new UsageError('Invalid --check with --yes: --check is for dry runs (an upload checks anyway)')

      const { apiBaseUrl, KaggleClient } = await import('../lib/kaggle/client.js')
      const { resolveCredentials, describeCredentials } = await import('../lib/kaggle/credentials.js')
      const baseUrl = apiBaseUrl(opts.apiUrl)
      const quiet = g.logLevel === 'silent' || g.logLevel === 'error'
      const client = () => new KaggleClient({ baseUrl, credentials: resolveCredentials() })
      // A dry run reports credential problems instead of failing on them: the plan is still worth seeing
      const localCredentials = () => {
        try {
          return { credentials: describeCredentials(resolveCredentials()), credentialsProblem: null }
        } catch (err) {
          return { credentials: null, credentialsProblem: (err as Error).message }
        }
      }

      if (opts.kernel !== undefined) {
        const k = await import('../lib/kaggle/kernel.js')
        const plan = k.planKernelPush({ dir: opts.kernel, accelerator: opts.accelerator, sessionTimeoutSeconds: opts.sessionTimeout })
        const { text: _text, ...shownRequest } = plan.request
        if (!opts.yes) {
          const creds = localCredentials()
          if (g.json) {
            printJson({
              dryRun: true, kind: 'kernel', id: plan.id, idNo: plan.idNo, url: plan.url, apiUrl: baseUrl, metadataPath: plan.metadataPath,
              codePath: plan.codePath, textBytes: plan.textBytes, textSha256: plan.textSha256, machineShapeFrom: plan.machineShapeFrom,
              request: shownRequest, warnings: plan.warnings, ...creds,
            })
            return
          }
          const r = plan.request
          const out = [
            'Dry run: nothing was sent. Run again with --yes to push.',
            `Kernel: ${plan.id ?? `id_no ${plan.idNo}`}${plan.url ? ` -> ${plan.url}` : ''} (${r.isPrivate ? 'private' : 'public'})`,
            `Title "${r.newTitle}", ${r.language} ${r.kernelType}, code ${shownPath(plan.codePath)} (${fmtBytes(plan.textBytes)}, sha256 ${plan.textSha256.slice(0, 12)})`,
            `Machine: ${r.machineShape ?? 'default'}${plan.machineShapeFrom ? ` (from ${plan.machineShapeFrom})` : ''}; enableTpu ${r.enableTpu}, enableGpu ${r.enableGpu}, internet ${r.enableInternet ? 'on' : 'off'}` +
              `${r.sessionTimeoutSeconds !== undefined ? `, session timeout ${r.sessionTimeoutSeconds} s` : ''}`,
          ]
          const sources = [
            ['datasets', r.datasetDataSources], ['competitions', r.competitionDataSources], ['kernels', r.kernelDataSources], ['models', r.modelDataSources],
          ] as const
          const used = sources.filter(([, s]) => s.length).map(([n, s]) => `${n} ${s.join(', ')}`)
          if (used.length) out.push(`Sources: ${used.join('; ')}`)
          out.push(`API: ${baseUrl}/v1/kernels.KernelsApiService/SaveKernel`)
          out.push(creds.credentials ? `Credentials: ${creds.credentials.source} (${creds.credentials.kind})` : `Credentials: ${creds.credentialsProblem}`)
          for (const w of plan.warnings) out.push(`Warning: ${w}`)
          process.stdout.write(out.join('\n') + '\n')
          return
        }
        const c = client()
        const pushed = await k.pushKernel(plan, c)
        if (!g.json) {
          process.stdout.write(`Pushed ${plan.id ?? pushed.ref ?? `id_no ${plan.idNo}`}${pushed.versionNumber !== null ? ` version ${pushed.versionNumber}` : ''}: ${pushed.url ?? '(no URL in the reply)'}\n`)
          for (const w of pushed.warnings) process.stderr.write(`kaggle-upload: warning: ${w}\n`)
        }
        let waited: { status: string; elapsedMs: number } | undefined
        if (opts.wait) {
          if (!pushed.userName || !pushed.slug) throw new UsageError('Cannot --wait: the kernel has no USER/SLUG id and the reply named none')
          waited = await k.waitForKernel(c, pushed.userName, pushed.slug, {
            onStatus: (s, ms) => {
              if (!quiet) process.stderr.write(`kaggle-upload: kernel ${s} (${duration(ms)})\n`)
            },
          })
          if (!g.json) process.stdout.write(`Kernel run ${waited.status} after ${duration(waited.elapsedMs)}\n`)
        }
        if (g.json) printJson({ dryRun: false, kind: 'kernel', ...pushed, request: shownRequest, status: waited?.status ?? null })
        return
      }

      const d = await import('../lib/kaggle/dataset.js')
      const { DIR_MODES } = await import('../lib/kaggle/archive.js')
      if (!(DIR_MODES as readonly string[]).includes(opts.dirMode)) {
        throw new UsageError(`Invalid --dir-mode: '${opts.dirMode}'. Expected ${DIR_MODES.join(' or ')}`)
      }
      const dir = resolve(dirArg as string)
      const plan = d.planDatasetUpload({
        dir,
        dirMode: opts.dirMode as 'zip' | 'skip',
        dataset: opts.dataset,
        title: opts.title,
        subtitle: opts.subtitle,
        license: opts.license,
        keywords: opts.keywords,
        isPublic: opts.public,
        notes: opts.notes,
      })
      if (!opts.yes) {
        let action: 'create' | 'version' | null = null
        let creds: { credentials: ReturnType<typeof describeCredentials> | null; credentialsProblem: string | null }
        if (opts.check) {
          const c = client()
          await d.verifyCredentials(c)
          action = await d.decideAction(c, plan.owner, plan.slug)
          creds = { credentials: describeCredentials(c.credentials), credentialsProblem: null }
        } else creds = localCredentials()
        const note = action === null ? 'create or new version, decided at upload time (--check asks Kaggle now, read-only)' : null
        if (g.json) {
          const { sources: _s, ...shown } = plan
          printJson({ dryRun: true, kind: 'dataset', action, actionNote: note, apiUrl: baseUrl, ...shown, ...creds })
          return
        }
        const m = plan.metadata
        process.stdout.write(
          [
            'Dry run: nothing was sent and nothing written. Run again with --yes to upload.',
            `Dataset: ${plan.dataset} -> ${plan.url} (${plan.isPrivate ? 'private' : 'public'} if new)`,
            `Action: ${action === 'create' ? 'create a new dataset' : action === 'version' ? `new version, notes "${plan.notes}"` : note}`,
            `Title "${m.title}" (from ${plan.titleFrom})${m.subtitle ? `, subtitle "${m.subtitle}"` : ''}, licence ${m.licenses[0].name}` +
              `${m.keywords.length ? `, keywords ${m.keywords.join(', ')}` : ''}, ${m.resources.length} resources` +
              `${plan.schemaFromManifest.length ? `, columns from manifest.json for ${plan.schemaFromManifest.length} Parquet files` : ''}` +
              `${m.description ? `, description from README.md (${fmtNum(m.description.length)} characters)` : ''}`,
            `Metadata: would write ${plan.metadataPath}`,
          ].join('\n') + '\n',
        )
        await printTable(
          ['file', 'bytes', 'upload'],
          plan.files.map((f) => [
            f.archive ? `${f.name} (zip of ${f.archive.folder}/, ${f.archive.files} files)` : f.name,
            f.archive ? `${fmtNum(f.bytes)} before zip` : f.bytes,
            f.state === 'new' ? 'new' : f.state === 'resume' ? 'resume session' : 'done earlier',
          ]),
          ['left', 'right', 'left'],
        )
        const out = [`${plan.files.length} files, ${fmtNum(plan.totalBytes)} bytes (${fmtBytes(plan.totalBytes)}) in total`]
        for (const s of plan.skipped) out.push(`Skipped: ${s.name} (${s.reason})`)
        out.push(`API: ${baseUrl}`)
        out.push(creds.credentials ? `Credentials: ${creds.credentials.source} (${creds.credentials.kind})` : `Credentials: ${creds.credentialsProblem}`)
        process.stdout.write(out.join('\n') + '\n')
        return
      }

      const bar = progressLine()
      let current = ''
      const result = await d.uploadDataset(plan, client(), {
        chunkBytes: opts.chunkMib * 1024 * 1024,
        onAction: (a) => {
          if (!quiet) process.stderr.write(`kaggle-upload: ${a === 'create' ? `creating ${plan.dataset}` : `new version of ${plan.dataset}`}\n`)
        },
        onProgress: (p) => {
          if (current && p.file !== current) bar.done()
          current = p.file
          const pct = p.totalBytes ? ((100 * p.totalCommitted) / p.totalBytes).toFixed(1) : '100.0'
          bar.update(`kaggle-upload: ${p.file} ${fmtBytes(p.committed)}/${fmtBytes(p.fileBytes)}, total ${pct}%`)
        },
      })
      bar.done()
      if (g.json) {
        printJson({ dryRun: false, kind: 'dataset', ...result })
        return
      }
      const resumed = result.files.filter((f) => f.resumedFrom > 0).length
      process.stdout.write(
        `${result.action === 'create' ? `Created ${result.ref} (${result.isPrivate ? 'private' : 'public'})` : `New version of ${result.ref}${result.versionNumber !== null ? ` (version ${result.versionNumber})` : ''}`}: ${result.url}\n` +
          `Uploaded ${result.files.length} files, ${fmtBytes(result.totalBytes)}; sent ${fmtBytes(result.bytesSent)}` +
          `${resumed ? ` (${resumed} resumed)` : ''}. Kaggle processes the files now; the page shows them when ready.\n`,
      )
      if (result.invalidTags.length) process.stderr.write(`kaggle-upload: warning: Kaggle dropped unknown keywords: ${result.invalidTags.join(', ')}\n`)
    })
}
