// Counts results the way cache-tests.fyi classifies them (its own determineTestResult, with
// dependencies honoured): required tests passed, optimal tests passed, per cache.
// node summarize.mjs <suite dir> <name=results.json>...   (prints JSON)
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const [suiteDir, ...named] = process.argv.slice(2)
const load = file => import(pathToFileURL(path.resolve(suiteDir, file)).href)
const suites = (await load('tests/index.mjs')).default
const { determineTestResult, resultTypes } = await load('test-engine/lib/results.mjs')
const published = (await load('results/index.mjs')).default

const tests = suites.flatMap(suite => suite.tests)
const required = tests.filter(test => test.kind === 'required' || test.kind === undefined)
const optimal = tests.filter(test => test.kind === 'optimal')

function count (results) {
  const classify = test => determineTestResult(suites, test.id, results)
  const failed = required.filter(test => classify(test) !== resultTypes.pass)
  return {
    required_passed: required.length - failed.length,
    optimal_passed: optimal.filter(test => classify(test) === resultTypes.pass).length,
    own_results_passed: required.filter(test => determineTestResult(suites, test.id, results, false) === resultTypes.pass).length,
    required_failed: failed.map(test => ({
      id: test.id,
      name: test.name,
      result: classify(test)[2],
      detail: Array.isArray(results[test.id]) ? results[test.id][1] : ''
    }))
  }
}

const caches = {}
for (const entry of published.filter(entry => entry.type === 'rev-proxy' || entry.type === 'cdn')) {
  const results = JSON.parse(fs.readFileSync(path.resolve(suiteDir, 'results', entry.file), 'utf8'))
  caches[`${entry.name} ${entry.version}`] = count(results)
}
const ours = {}
for (const item of named) {
  const at = item.lastIndexOf('=')
  const [name, file] = [item.slice(0, at), item.slice(at + 1)]
  ours[name] = count(JSON.parse(fs.readFileSync(file, 'utf8')))
}
console.log(JSON.stringify({ required: required.length, optimal: optimal.length, caches, ours }, null, 1))
