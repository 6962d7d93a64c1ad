import t from 'tap';
import { clampPriority, formatPriority, parsePriority, priorityValue } from '../../src/sharing/priority.js';
import { inWindow, scheduling, type ScheduleWindow } from '../../src/sharing/schedule.js';
import { UsageWindow } from '../../src/sharing/usage.js';
import { NO_REQUEST } from '../../src/sharing/quota.js';

t.test('priorities: classes, levels, order and ceilings', async (t) => {
  t.same(parsePriority('high'), { class: 'high', level: 0 });
  t.same(parsePriority('low:7'), { class: 'low', level: 7 });
  for (const bad of ['urgent', 'high:10', 'high:', 'HIGH', ':3', 'high:x']) t.equal(parsePriority(bad), null, bad);
  const order = ['low', 'low:9', 'normal', 'normal:3', 'high', 'high:9'].map((p) => priorityValue(parsePriority(p)!));
  t.same([...order].sort((a, b) => a - b), order, 'low < normal < high, levels inside each');
  t.equal(formatPriority({ class: 'high', level: 0 }), 'high');
  t.equal(formatPriority({ class: 'low', level: 3 }), 'low:3');
  t.same(clampPriority(parsePriority('high:5')!, parsePriority('low')!), { class: 'low', level: 0 }, 'a tenant ceiling lowers the class');
  t.same(clampPriority(parsePriority('low:2')!, parsePriority('high')!), { class: 'low', level: 2 }, 'below the ceiling: unchanged');
});

// Local times: the windows follow the daemon host's clock.
const at = (day: number, hh: number, mm = 0) => new Date(2026, 10, 22 + day, hh, mm); // 2026-11-22 is a Sunday

t.test('schedule windows: same-day and past-midnight windows, days', async (t) => {
  const night: ScheduleWindow = { class: 'low', from: '22:00', to: '06:00', as: 'high' };
  t.ok(inWindow(night, at(1, 23)), 'Monday 23:00');
  t.ok(inWindow(night, at(2, 5, 59)), 'Tuesday 05:59');
  t.notOk(inWindow(night, at(2, 6)), 'the end is not in the window');
  t.notOk(inWindow(night, at(2, 12)));
  const weekdays: ScheduleWindow = { class: 'low', from: '22:00', to: '06:00', days: ['fri'], as: 'high' };
  t.ok(inWindow(weekdays, at(5, 23)), 'Friday night');
  t.ok(inWindow(weekdays, at(6, 3)), 'the small hours of Saturday belong to Friday night');
  t.notOk(inWindow(weekdays, at(6, 23)), 'not Saturday night');
  const office: ScheduleWindow = { class: 'low', from: '09:00', to: '17:00', as: 'paused' };
  t.ok(inWindow(office, at(3, 9)));
  t.notOk(inWindow(office, at(3, 17)));
});

t.test('scheduling: request, defaults, ceiling and windows', async (t) => {
  const windows: ScheduleWindow[] = [
    { class: 'low', from: '22:00', to: '06:00', as: 'high' },
    { class: 'low', from: '09:00', to: '17:00', as: 'paused' },
  ];
  const plain = scheduling(NO_REQUEST, null, { share: 0.25 }, windows, at(1, 12));
  t.same(plain.params, { share: 0.25, limit: false, priority: 10, paused: false }, 'no request: the default share, normal priority');
  const train = { ...NO_REQUEST, share: 0.5, priority: 'low:2', limit: true };
  t.same(scheduling(train, null, { share: 0.25 }, windows, at(1, 23)).params, { share: 0.5, limit: true, priority: 22, paused: false }, 'at night, low runs as high');
  t.equal(scheduling(train, null, { share: 0.25 }, windows, at(1, 23)).effective, 'high:2');
  t.same(scheduling(train, null, { share: 0.25 }, windows, at(1, 10)).params.paused, true, 'office hours: held off');
  t.equal(scheduling(train, null, { share: 0.25 }, windows, at(1, 18)).effective, 'low:2', 'outside every window: as asked');
  const greedy = { ...NO_REQUEST, priority: 'high' };
  const capped = scheduling(greedy, parsePriority('low'), { share: 0.25 }, [], at(1, 12));
  t.equal(capped.priority.class, 'low', "the tenant's ceiling applies");
});

t.test('achieved share: device time over the last window', async (t) => {
  const w = new UsageWindow(10_000);
  t.equal(w.achieved(), null, 'nothing before two samples');
  w.record(0, [0, 0]);
  w.record(1000, [250e6, 0]);
  t.same(w.achieved(), [0.25, 0]);
  for (let s = 2; s <= 20; s++) w.record(s * 1000, [250e6 + (s - 1) * 500e6, 0]);
  t.same(w.achieved(), [0.5, 0], 'only the last 10 s count');
});
