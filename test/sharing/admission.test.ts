import t from 'tap';
import { AdmissionQueue } from '../../src/sharing/admission.js';

t.test('waiters are tried in arrival order; one that does not fit does not hold back the next', async (t) => {
  const q = new AdmissionQueue();
  const tried: string[] = [];
  let room = 0;
  const expired: string[] = [];
  // "big" needs 2 units of room, "small" needs 1.
  const take = (name: string, need: number) => () => {
    tried.push(name);
    if (room < need) return false;
    room -= need;
    return true;
  };
  q.add(take('big', 2), 10_000, () => expired.push('big'));
  q.add(take('small', 1), 10_000, () => expired.push('small'));
  t.equal(q.size, 2);
  q.retry();
  t.same(tried, ['big', 'small'], 'oldest first');
  room = 1;
  tried.length = 0;
  q.retry();
  t.same(tried, ['big', 'small'], 'big still does not fit; small behind it is admitted');
  t.equal(q.size, 1);
  room = 2;
  q.retry();
  t.equal(q.size, 0, 'big admitted once there is room');
  t.same(expired, []);
  q.clear();
});

t.test('a waiter expires after its time; a withdrawn one is neither tried nor expired', async (t) => {
  const q = new AdmissionQueue();
  const events: string[] = [];
  q.add(() => false, 30, () => events.push('expired'));
  const withdraw = q.add(() => {
    events.push('tried');
    return false;
  }, 30, () => events.push('withdrawn one expired'));
  withdraw();
  q.retry();
  await new Promise((r) => setTimeout(r, 80));
  t.same(events, ['expired']);
  t.equal(q.size, 0);
});

t.test('a waiter may withdraw another during a retry; clear() forgets every waiter', async (t) => {
  const q = new AdmissionQueue();
  let second: () => void = () => {};
  const events: string[] = [];
  q.add(() => {
    second();
    return true;
  }, 10_000, () => events.push('first expired'));
  second = q.add(() => {
    events.push('second tried');
    return true;
  }, 10_000, () => events.push('second expired'));
  q.retry();
  t.same(events, [], 'the withdrawn waiter is not tried');
  q.add(() => false, 20, () => events.push('cleared one expired'));
  q.clear();
  await new Promise((r) => setTimeout(r, 50));
  t.same(events, []);
  t.equal(q.size, 0);
});

t.test('a retry asked for during a retry runs after it, not inside it', async (t) => {
  const q = new AdmissionQueue();
  const order: string[] = [];
  let rounds = 0;
  q.add(() => {
    rounds += 1;
    order.push(`first, round ${rounds}`);
    if (rounds === 1) q.retry();
    return rounds === 2;
  }, 10_000, () => {});
  q.add(() => {
    order.push('second');
    return true;
  }, 10_000, () => {});
  q.retry();
  t.same(order, ['first, round 1', 'second', 'first, round 2']);
  t.equal(q.size, 0);
});
